#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "soragen/error.h"
#include "soragen/pipeline.h"
#include "test_util.h"

namespace soragen {
namespace {

void touch(const std::filesystem::path& path) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << "x";
}

TEST(ModelSource, DetectsTheOfficialLayout) {
  test::TempDir dir;
  touch(dir / "diffusion_pytorch_model.safetensors");
  touch(dir / "models_t5_umt5-xxl-enc-bf16.pth");
  touch(dir / "Wan2.1_VAE.pth");
  std::filesystem::create_directories(dir / "google" / "umt5-xxl");
  const ModelSource source = resolve_model({dir.path().string()});
  EXPECT_EQ(source.family, "Wan2.1 official");
  EXPECT_EQ(source.directory, dir.path());
}

TEST(ModelSource, OfficialLayoutNamesWhatIsMissing) {
  test::TempDir dir;
  touch(dir / "diffusion_pytorch_model-00001-of-00002.safetensors");
  try {
    resolve_model({dir.path().string()});
    FAIL() << "no error";
  } catch (const ModelError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("models_t5_umt5-xxl-enc-bf16.pth"), std::string::npos) << message;
    EXPECT_NE(message.find("Wan2.1_VAE.pth"), std::string::npos) << message;
    EXPECT_NE(message.find("google/umt5-xxl/"), std::string::npos) << message;
  }
}

TEST(ModelSource, DetectsTheDiffusersLayout) {
  test::TempDir dir;
  touch(dir / "model_index.json");
  for (const char* sub : {"transformer", "text_encoder", "tokenizer", "vae"}) touch(dir / sub / "config.json");
  EXPECT_EQ(resolve_model({dir.path().string()}).family, "Wan2.1 diffusers");
  std::filesystem::remove_all(dir / "vae");
  try {
    resolve_model({dir.path().string()});
    FAIL() << "no error";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("missing vae/"), std::string::npos) << e.what();
  }
}

TEST(ModelSource, EmptyDirectoryFileAndUnknownName) {
  test::TempDir dir;
  EXPECT_THROW(resolve_model({dir.path().string()}), ModelError);
  touch(dir / "weights.bin");
  EXPECT_THROW(resolve_model({(dir / "weights.bin").string()}), UsageError);
  EXPECT_THROW(resolve_model({"./no/such/dir"}), UsageError);
  try {
    resolve_model({"no-such-model"});
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("not a directory and not a bundled model (bundled: "), std::string::npos)
        << e.what();
  }
}

TEST(ModelSource, BundledModelsAreDirectoriesWithModelJson) {
  test::TempDir dir;
  touch(dir / "configs" / "x.json");
  touch(dir / "tiny" / "model.json");
  std::filesystem::create_directories(dir / "notamodel");
  setenv("SORAGEN_MODELS_DIR", dir.path().c_str(), 1);
  EXPECT_EQ(models_directory(), dir.path());
  EXPECT_EQ(bundled_model_names(), std::vector<std::string>{"tiny"});
  const ModelSource source = resolve_model({"tiny"});
  EXPECT_EQ(source.family, "bundled");
  EXPECT_EQ(source.directory, dir / "tiny");
  try {
    resolve_model({"huge"});
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("(bundled: tiny)"), std::string::npos) << e.what();
  }
  unsetenv("SORAGEN_MODELS_DIR");
}

}  // namespace
}  // namespace soragen
