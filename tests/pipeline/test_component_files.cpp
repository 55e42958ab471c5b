// Single component files (--dit, --text-encoder, --vae, --tokenizer): which
// file is what, the configs they get, and the one-line errors for a file
// given to the wrong flag or parts that do not fit together.
#include <gtest/gtest.h>

#include "component_files_util.h"
#include "io/tensor_source.h"
#include "pipeline/component_files.h"
#include "pipeline/model_family.h"
#include "pipeline/model_files.h"
#include "soragen/error.h"
#include "test_util.h"

namespace soragen::pipeline {
namespace {

namespace fs = std::filesystem;

using test::all_four;

std::string model_error(const ModelSpec& spec) {
  try {
    locate_model_files(resolve_model(spec));
  } catch (const ModelError& e) {
    return e.what();
  }
  return "";
}

TEST(ComponentFiles, EachFileOfTheDefaultIsIdentified) {
  const fs::path dir = test::default_model_dir();
  const std::pair<const char*, Component> parts[] = {
      {"dit.safetensors", Component::dit}, {"text_encoder.safetensors", Component::text_encoder},
      {"vae.safetensors", Component::vae}};
  for (const auto& [file, component] : parts) {
    const auto match = identify_component(*io::open_weights(dir / file));
    ASSERT_TRUE(match) << file;
    EXPECT_EQ(match->component, component) << file;
  }
  EXPECT_EQ(identify_component(*io::open_weights(dir / "dit.safetensors"))->layout, "official");
  EXPECT_EQ(identify_component(*io::open_weights(dir / "text_encoder.safetensors"))->layout, "wan");
}

TEST(ComponentFiles, AllFourFilesNeedNoModelAndKeepTheirConfigs) {
  const fs::path dir = test::default_model_dir();
  const ModelSource source = resolve_model(all_four(dir));
  EXPECT_EQ(source.family, "component files");
  const ModelFiles files = locate_model_files(source);
  const ModelFiles bundled = locate_model_files(resolve_model({"default"}));
  EXPECT_EQ(files.dit, dir / "dit.safetensors");
  EXPECT_EQ(files.tokenizer, dir / "spiece.model");
  // The model.json beside the files gives their configs.
  EXPECT_EQ(files.dit_config.dim, bundled.dit_config.dim);
  EXPECT_EQ(files.text_encoder_config.dim, bundled.text_encoder_config.dim);
  EXPECT_EQ(std::get<vae::VaeConfig>(files.vae_config).dim, std::get<vae::VaeConfig>(bundled.vae_config).dim);
  // Without --model, the Wan2.1 T2V defaults.
  EXPECT_EQ(files.defaults.frames, 81);
}

TEST(ComponentFiles, FoldersStandForTheirUsualFiles) {
  test::TempDir dir;
  fs::create_directories(dir / "tokenizer");
  fs::copy_file(test::default_model_dir() / "spiece.model", dir / "tokenizer" / "spiece.model");
  EXPECT_EQ(find_component_file(Component::tokenizer, dir.path()), dir / "tokenizer" / "spiece.model");
  try {
    find_component_file(Component::vae, dir.path());
    ADD_FAILURE() << "no error";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("a folder without a VAE file"), std::string::npos) << e.what();
  }
}

TEST(ComponentFiles, ComfyNamedDitReplacesTheModelsOwn) {
  test::TempDir dir;
  ModelSpec spec;
  spec.dit = test::write_comfy_dit(dir.path());
  const ModelFiles files = locate_model_files(resolve_model(spec));
  EXPECT_EQ(files.dit, *spec.dit);
  EXPECT_EQ(identify_component(*io::open_weights(files.dit))->layout, "comfy");
  EXPECT_EQ(files.dit_config.dim, 128);      // from the config.json beside it
  EXPECT_EQ(files.defaults.frames, 17);      // the rest is still --model default
}

TEST(ComponentFiles, ComfyScaledFp8TextEncoderIsDetected) {
  test::TempDir dir;
  ModelSpec spec;
  spec.text_encoder = test::write_comfy_scaled_text_encoder(dir.path());
  EXPECT_EQ(identify_component(*io::open_weights(*spec.text_encoder))->layout, "hf (scaled fp8)");
  const ModelFiles files = locate_model_files(resolve_model(spec));
  EXPECT_EQ(files.text_encoder, *spec.text_encoder);
  EXPECT_EQ(files.text_encoder_config.dim, 64);  // from the model.json that names it
}

TEST(ComponentFiles, AFileGivenToTheWrongFlagSaysWhatItIsAndWhereItGoes) {
  const fs::path dir = test::default_model_dir();
  ModelSpec spec;
  spec.dit = dir / "vae.safetensors";
  const std::string message = model_error(spec);
  EXPECT_NE(message.find("--dit '" + (dir / "vae.safetensors").string() + "': is a VAE checkpoint (official layout)"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("pass it to --vae"), std::string::npos) << message;

  spec = {};
  spec.text_encoder = dir / "dit.safetensors";
  EXPECT_NE(model_error(spec).find("is a DiT checkpoint (official layout), not a text encoder checkpoint; pass it to "
                                   "--dit"),
            std::string::npos)
      << model_error(spec);
  spec = {};
  spec.tokenizer = dir / "text_encoder.safetensors";
  EXPECT_NE(model_error(spec).find("pass it to --text-encoder"), std::string::npos) << model_error(spec);
  spec = {};
  spec.vae = dir / "spiece.model";
  EXPECT_NE(model_error(spec).find("is a sentencepiece tokenizer, not a VAE checkpoint; pass it to --tokenizer"),
            std::string::npos)
      << model_error(spec);
  spec = {};
  spec.vae = dir / "no-such.safetensors";
  EXPECT_NE(model_error(spec).find("--vae '"), std::string::npos);
  EXPECT_THROW(resolve_model(spec), ModelError);
}

TEST(ComponentFiles, ATextEncoderOfAnotherWidthIsOneErrorNamingBothFiles) {
  test::TempDir dir;
  ModelSpec spec;
  spec.text_encoder = test::write_resized_text_encoder(dir.path(), 32, 170);
  const std::string message = model_error(spec);
  EXPECT_NE(message.find("the DiT and the text encoder do not fit together"), std::string::npos) << message;
  EXPECT_NE(message.find((test::default_model_dir() / "dit.safetensors").string()), std::string::npos) << message;
  EXPECT_NE(message.find(spec.text_encoder->string()), std::string::npos) << message;
  EXPECT_NE(message.find("width 64 (text_dim), the text encoder gives 32"), std::string::npos) << message;
}

TEST(ComponentFiles, AReplacedPartIsCheckedAgainstItsConfigBeforeLoading) {
  // The golden umT5 beside no model.json gets the shipped XXL config: its
  // layer count says at once that they differ.
  ModelSpec spec;
  spec.text_encoder = test::data_dir() / "golden" / "t5_encoder.safetensors";
  EXPECT_NE(model_error(spec).find("num_layers 24"), std::string::npos) << model_error(spec);
}

TEST(ComponentFiles, TheRegistryKnowsEveryFamilyOnce) {
  std::vector<std::string> names;
  for (const ModelFamily* family : model_families()) names.push_back(family->name());
  EXPECT_EQ(names, (std::vector<std::string>{"Wan2.1 diffusers", "Wan2.2 diffusers", "bundled", "Wan2.1 official", "Wan2.2 official",
                                      "Wan2.2 Comfy-Org", "component files"}));
  EXPECT_STREQ(model_family("bundled").name(), "bundled");
  EXPECT_THROW(model_family("nothing"), InternalError);
}

}  // namespace
}  // namespace soragen::pipeline
