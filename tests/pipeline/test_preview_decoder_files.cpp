// Where a model's preview decoder comes from (model.json's "preview_decoder",
// --preview-decoder), what config it gets, and the one-line errors for a
// decoder that does not fit the VAE or a request that needs one the model
// lacks.
#include <gtest/gtest.h>

#include "expect_throw.h"
#include "pipeline/component_files.h"
#include "pipeline/families/wan21_shared.h"
#include "pipeline/families/wan22_shared.h"
#include "pipeline/model_inputs.h"
#include "pipeline/model_manifest.h"
#include "preview_model_util.h"
#include "soragen/error.h"
#include "test_util.h"

namespace soragen::pipeline {
namespace {

namespace fs = std::filesystem;

// taew2_1's and taew2_2's shapes: widths 256 128 64 64, 16 or 48 latent
// channels, a 2x2 pixel shuffle for taew2_2 (small fp16 files).
fs::path write_public_shaped(const fs::path& file, int64_t latent_channels, int64_t patch) {
  vae::test::TaehvShape shape;
  shape.latent_channels = latent_channels;
  shape.patch = patch;
  io::save_safetensors(file, vae::test::taehv_tensors(shape));
  return file;
}

TEST(PreviewDecoderFiles, ABundledModelNamesItsOwnWithItsConfig) {
  soragen::test::TempDir dir;
  const vae::TinyDecoderConfig config = soragen::test::write_default_with_preview_decoder(dir.path());
  const ModelFiles files = locate_model_files(resolve_model({dir.path().string()}));
  EXPECT_EQ(files.preview_decoder, dir / "preview_decoder.safetensors");
  ASSERT_TRUE(files.preview_decoder_config.has_value());
  EXPECT_EQ(files.preview_decoder_config->to_json(), config.to_json());
  const ModelInfo info = inspect_model({dir.path().string()});
  EXPECT_TRUE(info.inputs.preview_decoder);
  // The shipped default has its own (no public file fits its VAE).
  const ModelInfo shipped = inspect_model({"default"});
  EXPECT_TRUE(shipped.inputs.preview_decoder);
  EXPECT_EQ(shipped.inputs.public_preview_decoder, "");
  // A bundle's decoder fits its own VAE: --vae keeps it for that file and
  // drops it for another.
  ModelSpec spec{"default"};
  spec.vae = soragen::test::default_model_dir() / "vae.safetensors";
  EXPECT_TRUE(inspect_model(spec).inputs.preview_decoder);
  const fs::path other = dir / "other_vae.safetensors";
  fs::copy_file(soragen::test::default_model_dir() / "vae.safetensors", other);
  spec.vae = other;
  EXPECT_FALSE(inspect_model(spec).inputs.preview_decoder);
}

TEST(PreviewDecoderFiles, ModelJsonsConfigIsCheckedAgainstTheWeights) {
  soragen::test::TempDir dir;
  soragen::test::write_default_with_preview_decoder(dir.path());
  nlohmann::json manifest = nlohmann::json::parse(std::ifstream(dir / "model.json"));
  manifest["preview_decoder"]["config"]["widths"] = {16, 8, 8, 8};
  std::ofstream(dir / "model.json") << manifest.dump();
  SORAGEN_EXPECT_THROW_MESSAGE(locate_model_files(resolve_model({dir.path().string()})), ModelError,
                               "preview_decoder.safetensors': the preview decoder's config says widths [16,8,8,8], "
                               "its weights have [8,8,8,8]",
                               true);
  manifest["preview_decoder"]["config"] = {{"time_upscale", {false, false, false}}};
  std::ofstream(dir / "model.json") << manifest.dump();
  SORAGEN_EXPECT_THROW_MESSAGE(locate_model_files(resolve_model({dir.path().string()})), ModelError,
                               "preview_decoder.config: time_upscale needs at least one true entry", true);
}

TEST(PreviewDecoderFiles, PublicFilesFitTheirVaeByShapeAndNameTheFileWhenNot) {
  soragen::test::TempDir dir;
  const fs::path taew2_1 = write_public_shaped(dir / "a.safetensors", 16, 1);
  const fs::path taew2_2 = write_public_shaped(dir / "b.safetensors", 48, 2);
  ModelFiles files = locate_model_files(resolve_model({"default"}));
  files.vae = "Wan2.1_VAE.pth";
  files.vae_config = shipped_vae_config();
  files.preview_decoder = taew2_1;
  files.preview_decoder_config.reset();  // the bundled decoder's
  fit_preview_decoder(files);
  ASSERT_TRUE(files.preview_decoder_config.has_value());
  EXPECT_EQ(files.preview_decoder_config->latent_channels, 16);
  EXPECT_EQ(files.preview_decoder_config->spatial_factor(), 8);
  EXPECT_EQ(model_inputs(files).public_preview_decoder, "taew2_1");
  files.preview_decoder = taew2_2;
  files.preview_decoder_config.reset();
  SORAGEN_EXPECT_THROW_MESSAGE(fit_preview_decoder(files), ModelError,
                               "b.safetensors': this preview decoder takes 48 latent channels, the Wan2.1 VAE of "
                               "'Wan2.1_VAE.pth' has 16 (taew2_1 fits the Wan2.1 VAE, taew2_2 the Wan2.2 VAE)",
                               true);
  files.vae_config = shipped_vae22_config();
  files.preview_decoder_config.reset();
  fit_preview_decoder(files);
  EXPECT_EQ(files.preview_decoder_config->spatial_factor(), 16);
  EXPECT_EQ(model_inputs(files).public_preview_decoder, "taew2_2");
}

TEST(PreviewDecoderFiles, TheFlagReplacesTheModelsAndIsCheckedBeforeLoading) {
  soragen::test::TempDir dir;
  // A file of 48 channels for the default's 16: one line naming the file.
  ModelSpec spec;
  spec.preview_decoder = write_public_shaped(dir / "taew2_2.safetensors", 48, 2);
  SORAGEN_EXPECT_THROW_MESSAGE(inspect_model(spec), ModelError,
                               "taew2_2.safetensors': this preview decoder takes 48 latent channels", true);
  spec.preview_decoder = dir / "absent.pth";
  SORAGEN_EXPECT_THROW_MESSAGE(inspect_model(spec), ModelError, "--preview-decoder '" + (dir / "absent.pth").string() +
                                                                    "': no such file or directory",
                               true);
  // A bundled model's own decoder through the flag keeps model.json's config.
  const fs::path bundled = dir / "bundled";
  fs::create_directory(bundled);
  const vae::TinyDecoderConfig config = soragen::test::write_default_with_preview_decoder(bundled);
  spec.preview_decoder = bundled;  // a folder stands for its preview_decoder.safetensors
  const ModelFiles files = locate_model_files(resolve_model(spec));
  EXPECT_EQ(files.preview_decoder, bundled / "preview_decoder.safetensors");
  EXPECT_EQ(files.preview_decoder_config->to_json(), config.to_json());
}

TEST(PreviewDecoderFiles, AFileGivenToTheWrongFlagSaysWhichItIs) {
  soragen::test::TempDir dir;
  const fs::path decoder = write_public_shaped(dir / "taew2_1.safetensors", 16, 1);
  const auto match = identify_component(*io::open_weights(decoder));
  ASSERT_TRUE(match);
  EXPECT_EQ(match->component, Component::preview_decoder);
  ModelSpec spec;
  spec.vae = decoder;
  SORAGEN_EXPECT_THROW_MESSAGE(inspect_model(spec), ModelError,
                               "is a preview decoder checkpoint (taehv layout), not a VAE checkpoint; pass it to "
                               "--preview-decoder",
                               true);
  spec = {};
  spec.preview_decoder = soragen::test::default_model_dir() / "vae.safetensors";
  SORAGEN_EXPECT_THROW_MESSAGE(inspect_model(spec), ModelError, "pass it to --vae", true);
}

TEST(PreviewDecoderFiles, ARequestForAPreviewNeedsADecoderAndNamesThePublicOne) {
  ModelFiles files = locate_model_files(resolve_model({"default"}));
  files.preview_decoder.clear();  // the default without its own
  files.preview_decoder_config.reset();
  ResolvedRequest request = resolve_request({"a prompt"}, files.defaults);
  request.preview = "p.mp4";
  ModelInputs inputs = model_inputs(files);
  SORAGEN_EXPECT_THROW_MESSAGE(check_resolved_for_model(request, inputs, false), UsageError,
                               "--preview 'p.mp4': this ti2v model has no preview decoder; pass --preview-decoder "
                               "FILE: no public one fits its VAE (soragen-train taehv trains one",
                               true);
  files.vae_config = shipped_vae_config();
  inputs = model_inputs(files);
  request.preview.clear();
  request.fast_decode = true;
  SORAGEN_EXPECT_THROW_MESSAGE(check_resolved_for_model(request, inputs, false), UsageError,
                               "--fast-decode: this ti2v model has no preview decoder; pass --preview-decoder FILE: "
                               "the public taew2_1 (github.com/madebyollin/taehv) fits its VAE",
                               true);
  inputs.preview_decoder = true;
  check_resolved_for_model(request, inputs, false);
}

TEST(PreviewDecoderFiles, ModelJsonWithoutConfigTakesTheWeightsShapes) {
  nlohmann::json manifest = soragen::test::default_manifest();
  manifest["preview_decoder"] = {{"weights", "preview.safetensors"}};
  const ModelFiles files = parse_model_manifest(manifest.dump(), "/m/model.json");
  EXPECT_EQ(files.preview_decoder, "/m/preview.safetensors");
  EXPECT_FALSE(files.preview_decoder_config.has_value());
  manifest["preview_decoder"] = {{"config", nlohmann::json::object()}};
  EXPECT_THROW(parse_model_manifest(manifest.dump(), "/m/model.json"), ModelError);
}

}  // namespace
}  // namespace soragen::pipeline
