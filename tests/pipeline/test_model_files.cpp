// Model directories in each layout, built from the golden tiny weights: which
// file serves as what, which config is picked, and what a missing file says.
#include <gtest/gtest.h>

#include <fstream>

#include "golden_util.h"
#include "pipeline/model_files.h"
#include "soragen/error.h"

namespace soragen::pipeline {
namespace {

namespace fs = std::filesystem;

void copy_into(const fs::path& from, const fs::path& to) {
  fs::create_directories(to.parent_path());
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
}

// An official Wan2.1 download in miniature: the golden files under the
// official names (the weights readers go by content, not by extension).
void make_official(const fs::path& dir) {
  copy_into(test::golden_dir() / "dit.safetensors", dir / "diffusion_pytorch_model.safetensors");
  copy_into(test::golden_dir() / "t5_encoder.safetensors", dir / "models_t5_umt5-xxl-enc-bf16.pth");
  copy_into(test::golden_dir() / "vae.safetensors", dir / "Wan2.1_VAE.pth");
  copy_into(test::data_dir() / "spm" / "tiny.model", dir / "google" / "umt5-xxl" / "spiece.model");
  const test::GoldenFile dit(test::golden_dir() / "dit.safetensors");
  std::ofstream(dir / "config.json") << dit.config().dump();
}

std::string model_error(const ModelSource& source) {
  try {
    locate_model_files(source);
  } catch (const ModelError& e) {
    return e.what();
  }
  return "";
}

TEST(ModelFiles, OfficialLayoutUsesItsConfigJson) {
  test::TempDir dir;
  make_official(dir.path());
  const ModelSource source = resolve_model({dir.path().string()});
  ASSERT_EQ(source.family, "Wan2.1 official");
  const ModelFiles files = locate_model_files(source);
  EXPECT_EQ(files.dit, dir / "diffusion_pytorch_model.safetensors");
  EXPECT_EQ(files.text_encoder, dir / "models_t5_umt5-xxl-enc-bf16.pth");
  EXPECT_EQ(files.vae, dir / "Wan2.1_VAE.pth");
  EXPECT_EQ(files.tokenizer, dir / "google" / "umt5-xxl" / "spiece.model");
  EXPECT_EQ(files.dit_config.dim, 64);
  EXPECT_EQ(files.text_encoder_config.dim, 4096);  // umT5-XXL from models/configs
  EXPECT_EQ(std::get<vae::VaeConfig>(files.vae_config).dim, 96);
  EXPECT_EQ(files.defaults.frames, 81);
  EXPECT_EQ(files.defaults.negative_prompt.rfind("色调艳丽", 0), 0u);
}

TEST(ModelFiles, OfficialLayoutWithoutConfigPicksTheShippedOneByWidth) {
  test::TempDir dir;
  make_official(dir.path());
  fs::remove(dir / "config.json");
  // The tiny golden DiT (width 64) is no Wan2.1 model: the error says so.
  EXPECT_NE(model_error(resolve_model({dir.path().string()})).find("width 64 matches no known Wan2.1 T2V model"),
            std::string::npos);
}

TEST(ModelFiles, ConfigJsonMustAgreeWithTheWeights) {
  test::TempDir dir;
  make_official(dir.path());
  nlohmann::json config = test::GoldenFile(test::golden_dir() / "dit.safetensors").config();
  config["dim"] = 128;
  std::ofstream(dir / "config.json") << config.dump();
  EXPECT_NE(model_error(resolve_model({dir.path().string()})).find("disagrees with its config.json"),
            std::string::npos);
}

TEST(ModelFiles, OfficialLayoutNamesEachMissingFile) {
  for (const char* missing : {"models_t5_umt5-xxl-enc-bf16.pth", "Wan2.1_VAE.pth", "google/umt5-xxl"}) {
    test::TempDir dir;
    make_official(dir.path());
    fs::remove_all(dir / missing);
    try {
      locate_model_files(resolve_model({dir.path().string()}));
      ADD_FAILURE() << "no error without " << missing;
    } catch (const ModelError& e) {
      EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
    }
  }
}

TEST(ModelFiles, DiffusersLayout) {
  test::TempDir dir;
  copy_into(test::golden_dir() / "dit.safetensors", dir / "transformer" / "diffusion_pytorch_model.safetensors");
  copy_into(test::golden_dir() / "t5_encoder.safetensors", dir / "text_encoder" / "model.safetensors");
  copy_into(test::golden_dir() / "vae.safetensors", dir / "vae" / "diffusion_pytorch_model.safetensors");
  copy_into(test::data_dir() / "spm" / "tiny.model", dir / "tokenizer" / "spiece.model");
  std::ofstream(dir / "model_index.json") << "{}";
  std::ofstream(dir / "transformer" / "config.json")
      << R"({"num_attention_heads": 4, "attention_head_dim": 16, "num_layers": 2, "ffn_dim": 128,
            "freq_dim": 256, "text_dim": 64, "in_channels": 16, "out_channels": 16, "patch_size": [1, 2, 2],
            "qk_norm": "rms_norm_across_heads", "cross_attn_norm": true, "eps": 1e-6})";
  const ModelFiles files = locate_model_files(resolve_model({dir.path().string()}));
  EXPECT_EQ(files.dit, dir / "transformer" / "diffusion_pytorch_model.safetensors");
  EXPECT_EQ(files.text_encoder, dir / "text_encoder" / "model.safetensors");
  EXPECT_EQ(files.tokenizer, dir / "tokenizer" / "spiece.model");
  EXPECT_EQ(files.dit_config.dim, 64);
  EXPECT_EQ(files.dit_config.num_heads, 4);
  EXPECT_TRUE(files.dit_config.qk_norm);

  fs::remove(dir / "tokenizer" / "spiece.model");
  EXPECT_NE(model_error(resolve_model({dir.path().string()})).find("tokenizer"), std::string::npos);
}

TEST(ModelFiles, BundledModelJsonErrorsNameTheFile) {
  test::TempDir dir;
  std::ofstream(dir / "model.json") << R"({"tokenizer": "spiece.model"})";
  EXPECT_NE(model_error(resolve_model({dir.path().string()})).find("no such file"), std::string::npos);
  std::ofstream(dir / "model.json") << "not json";
  EXPECT_NE(model_error(resolve_model({dir.path().string()})).find("not valid JSON"), std::string::npos);
}

}  // namespace
}  // namespace soragen::pipeline
