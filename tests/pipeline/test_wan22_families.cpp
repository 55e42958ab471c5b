// Wan2.2 model folders in the official, diffusers and Comfy-Org layouts, built
// from header-only stand-ins (one patch_embedding tensor of the full-size
// shape: detection and locating read headers, never weights), plus the
// single-file flags and model.json's two experts.
#include <gtest/gtest.h>

#include <fstream>

#include "golden_util.h"
#include "io/safetensors_writer.h"
#include "pipeline/model_files.h"
#include "pipeline/model_manifest.h"
#include "soragen/error.h"

namespace soragen::pipeline {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

void touch(const fs::path& path) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << "x";
}

// A DiT file whose only tensor is patch_embedding.weight [dim, in_dim, 1, 2, 2].
void write_dit(const fs::path& path, int64_t dim, int64_t in_dim) {
  fs::create_directories(path.parent_path());
  io::save_safetensors(path, {{"patch_embedding.weight", at::zeros({dim, in_dim, 1, 2, 2}, at::kHalf)}});
}

json shipped(const std::string& name) { return read_json_config(models_directory() / "configs" / name); }

void write_json(const fs::path& path, const json& value) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << value.dump();
}

void make_official_shared(const fs::path& dir) {
  touch(dir / "models_t5_umt5-xxl-enc-bf16.pth");
  touch(dir / "google" / "umt5-xxl" / "spiece.model");
}

void make_official_ti2v(const fs::path& dir) {
  make_official_shared(dir);
  write_dit(dir / "diffusion_pytorch_model.safetensors", 3072, 48);
  write_json(dir / "config.json", shipped("wan2.2-ti2v-5b.json"));
  touch(dir / "Wan2.2_VAE.pth");
}

void make_official_a14b(const fs::path& dir, int64_t in_dim) {
  make_official_shared(dir);
  const char* config = in_dim == 16 ? "wan2.2-t2v-a14b.json" : "wan2.2-i2v-a14b.json";
  for (const char* sub : {"high_noise_model", "low_noise_model"}) {
    write_dit(dir / sub / "diffusion_pytorch_model.safetensors", 5120, in_dim);
    write_json(dir / sub / "config.json", shipped(config));
  }
  touch(dir / "Wan2.1_VAE.pth");
}

// diffusers' WanTransformer3DModel config of a full-size DiT.
json diffusers_transformer(int64_t heads, int64_t ffn, int64_t layers, int64_t in_channels) {
  return {{"_class_name", "WanTransformer3DModel"}, {"num_attention_heads", heads}, {"attention_head_dim", 128},
          {"num_layers", layers}, {"ffn_dim", ffn}, {"in_channels", in_channels}, {"out_channels", in_channels == 36 ? 16 : in_channels},
          {"text_dim", 4096}, {"freq_dim", 256}, {"patch_size", {1, 2, 2}}, {"qk_norm", "rms_norm_across_heads"},
          {"cross_attn_norm", true}, {"eps", 1e-6}};
}

void make_diffusers_a14b(const fs::path& dir) {
  write_json(dir / "model_index.json", {{"_class_name", "WanPipeline"}, {"boundary_ratio", 0.875}});
  for (const char* sub : {"transformer", "transformer_2"}) {
    write_dit(dir / sub / "diffusion_pytorch_model.safetensors", 5120, 16);
    write_json(dir / sub / "config.json", diffusers_transformer(40, 13824, 40, 16));
  }
  touch(dir / "text_encoder" / "model.safetensors");
  touch(dir / "tokenizer" / "spiece.model");
  touch(dir / "vae" / "diffusion_pytorch_model.safetensors");
  write_json(dir / "vae" / "config.json", {{"_class_name", "AutoencoderKLWan"}, {"z_dim", 16}});
}

void make_diffusers_ti2v(const fs::path& dir) {
  write_json(dir / "model_index.json", {{"_class_name", "WanPipeline"}});
  write_dit(dir / "transformer" / "diffusion_pytorch_model.safetensors", 3072, 48);
  write_json(dir / "transformer" / "config.json", diffusers_transformer(24, 14336, 30, 48));
  touch(dir / "text_encoder" / "model.safetensors");
  touch(dir / "tokenizer" / "spiece.model");
  touch(dir / "vae" / "diffusion_pytorch_model.safetensors");
  write_json(dir / "vae" / "config.json", {{"_class_name", "AutoencoderKLWan"}, {"z_dim", 48}, {"is_residual", true}});
}

fs::path comfy(const fs::path& dir, const std::string& sub) { return dir / "split_files" / sub; }

void make_comfy_t2v(const fs::path& dir) {
  write_dit(comfy(dir, "diffusion_models") / "wan2.2_t2v_high_noise_14B_fp16.safetensors", 5120, 16);
  write_dit(comfy(dir, "diffusion_models") / "wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors", 5120, 16);
  write_dit(comfy(dir, "diffusion_models") / "wan2.2_t2v_low_noise_14B_fp16.safetensors", 5120, 16);
  touch(comfy(dir, "vae") / "wan_2.1_vae.safetensors");
  touch(comfy(dir, "text_encoders") / "umt5_xxl_fp16.safetensors");
  touch(dir / "spiece.model");
}

std::string model_error(const ModelSpec& spec) {
  try {
    locate_model_files(resolve_model(spec));
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

ModelSpec folder(const test::TempDir& dir) {
  ModelSpec spec;
  spec.model = dir.path().string();
  return spec;
}

TEST(Wan22Families, OfficialTi2vIsOneDitWithTheWan22Vae) {
  test::TempDir dir;
  make_official_ti2v(dir.path());
  const ModelSource source = resolve_model(folder(dir));
  ASSERT_EQ(source.family, "Wan2.2 official");
  const ModelFiles files = locate_model_files(source);
  EXPECT_EQ(files.dit, dir / "diffusion_pytorch_model.safetensors");
  EXPECT_FALSE(files.two_experts());
  EXPECT_EQ(files.dit_config.model_type, "ti2v");
  EXPECT_EQ(files.dit_config.dim, 3072);
  EXPECT_EQ(files.vae, dir / "Wan2.2_VAE.pth");
  ASSERT_TRUE(std::holds_alternative<vae::Vae22Config>(files.vae_config));
  EXPECT_EQ(files.tokenizer, dir / "google" / "umt5-xxl" / "spiece.model");
  EXPECT_EQ(files.text_encoder, dir / "models_t5_umt5-xxl-enc-bf16.pth");
  // models/configs/wan2.2-ti2v-5b.defaults.json
  EXPECT_EQ(files.defaults.frames, 121);
  EXPECT_EQ(files.defaults.width, 1280);
  EXPECT_EQ(files.defaults.height, 704);
  EXPECT_EQ(files.defaults.fps, 24);
  EXPECT_EQ(files.defaults.steps, 50);
  EXPECT_EQ(files.defaults.guidance, 5.0);
  EXPECT_EQ(files.defaults.shift, 5.0);
  EXPECT_EQ(files.defaults.sampler, "unipc");
  EXPECT_EQ(files.defaults.negative_prompt.rfind("色调艳丽", 0), 0u);
  EXPECT_EQ(files.boundary, 0);
}

TEST(Wan22Families, OfficialT2vA14bHasTwoExpertsAndTheWan21Vae) {
  test::TempDir dir;
  make_official_a14b(dir.path(), 16);
  const ModelSource source = resolve_model(folder(dir));
  ASSERT_EQ(source.family, "Wan2.2 official");
  const ModelFiles files = locate_model_files(source);
  EXPECT_EQ(files.dit, dir / "high_noise_model" / "diffusion_pytorch_model.safetensors");
  EXPECT_EQ(files.low_noise_dit, dir / "low_noise_model" / "diffusion_pytorch_model.safetensors");
  EXPECT_EQ(files.dit_config.model_type, "t2v");
  EXPECT_EQ(files.low_noise_dit_config.dim, 5120);
  EXPECT_EQ(files.vae, dir / "Wan2.1_VAE.pth");
  EXPECT_TRUE(std::holds_alternative<vae::VaeConfig>(files.vae_config));
  EXPECT_EQ(files.boundary, 0.875);
  EXPECT_EQ(files.defaults.shift, 12.0);
  EXPECT_EQ(files.defaults.steps, 40);
  EXPECT_EQ(files.defaults.guidance, 3.0);
  EXPECT_EQ(files.defaults.guidance_high, 4.0);
  EXPECT_EQ(files.defaults.frames, 81);
  EXPECT_EQ(files.defaults.fps, 16);
  EXPECT_EQ(files.defaults.width, 1280);
  EXPECT_EQ(files.defaults.height, 720);
}

TEST(Wan22Families, OfficialI2vA14bIsToldByItsInDim) {
  test::TempDir dir;
  make_official_a14b(dir.path(), 36);
  const ModelFiles files = locate_model_files(resolve_model(folder(dir)));
  EXPECT_EQ(files.dit_config.model_type, "i2v");
  EXPECT_EQ(files.low_noise_dit_config.in_dim, 36);
  EXPECT_EQ(files.boundary, 0.9);
  EXPECT_EQ(files.defaults.guidance, 3.5);
  EXPECT_EQ(files.defaults.guidance_high, 3.5);
  EXPECT_EQ(files.defaults.shift, 5.0);
}

TEST(Wan22Families, OfficialA14bNamesWhatIsMissing) {
  test::TempDir dir;
  make_official_a14b(dir.path(), 16);
  fs::remove(dir / "low_noise_model" / "diffusion_pytorch_model.safetensors");
  fs::remove(dir / "Wan2.1_VAE.pth");
  const std::string error = model_error(folder(dir));
  EXPECT_NE(error.find("official Wan2.2 layout is missing low_noise_model/diffusion_pytorch_model*.safetensors, "
                       "Wan2.1_VAE.pth"),
            std::string::npos)
      << error;
}

TEST(Wan22Families, OfficialConfigMustAgreeWithTheWeights) {
  test::TempDir dir;
  make_official_a14b(dir.path(), 16);
  write_dit(dir / "low_noise_model" / "diffusion_pytorch_model.safetensors", 5120, 36);
  const std::string error = model_error(folder(dir));
  EXPECT_NE(error.find("low_noise_model/diffusion_pytorch_model.safetensors': patch_embedding [5120, 36] disagrees "
                       "with its config (dim 5120, in_dim 16)"),
            std::string::npos)
      << error;
}

TEST(Wan22Families, OfficialTi2vFolderWithAWan21SizedDitIsRefused) {
  test::TempDir dir;
  make_official_ti2v(dir.path());
  write_dit(dir / "diffusion_pytorch_model.safetensors", 5120, 16);
  const std::string error = model_error(folder(dir));
  EXPECT_NE(error.find("is a Wan2.2 A14B expert, which needs its low-noise expert beside it"), std::string::npos)
      << error;
}

TEST(Wan22Families, DiffusersA14bTransformerIsTheHighNoiseExpert) {
  test::TempDir dir;
  make_diffusers_a14b(dir.path());
  const ModelSource source = resolve_model(folder(dir));
  ASSERT_EQ(source.family, "Wan2.2 diffusers");
  const ModelFiles files = locate_model_files(source);
  EXPECT_EQ(files.dit, dir / "transformer" / "diffusion_pytorch_model.safetensors");
  EXPECT_EQ(files.low_noise_dit, dir / "transformer_2" / "diffusion_pytorch_model.safetensors");
  EXPECT_EQ(files.dit_config.dim, 5120);
  EXPECT_EQ(files.dit_config.model_type, "t2v");
  EXPECT_EQ(files.text_encoder, dir / "text_encoder" / "model.safetensors");
  EXPECT_EQ(files.tokenizer, dir / "tokenizer" / "spiece.model");
  EXPECT_EQ(files.vae, dir / "vae" / "diffusion_pytorch_model.safetensors");
  EXPECT_TRUE(std::holds_alternative<vae::VaeConfig>(files.vae_config));
  EXPECT_EQ(files.boundary, 0.875);
  EXPECT_EQ(files.defaults.guidance_high, 4.0);
}

TEST(Wan22Families, DiffusersBoundaryRatioComesFromModelIndex) {
  test::TempDir dir;
  make_diffusers_a14b(dir.path());
  write_json(dir / "model_index.json", {{"_class_name", "WanPipeline"}, {"boundary_ratio", 0.8}});
  EXPECT_EQ(locate_model_files(resolve_model(folder(dir))).boundary, 0.8);
  write_json(dir / "model_index.json", {{"_class_name", "WanPipeline"}, {"boundary_ratio", 1.5}});
  EXPECT_NE(model_error(folder(dir)).find("\"boundary_ratio\" must be a number between 0 and 1"), std::string::npos);
}

TEST(Wan22Families, DiffusersTi2vVaeIsTheWan22Vae) {
  test::TempDir dir;
  make_diffusers_ti2v(dir.path());
  const ModelSource source = resolve_model(folder(dir));
  ASSERT_EQ(source.family, "Wan2.2 diffusers");
  const ModelFiles files = locate_model_files(source);
  EXPECT_EQ(files.vae, dir / "vae" / "diffusion_pytorch_model.safetensors");
  ASSERT_TRUE(std::holds_alternative<vae::Vae22Config>(files.vae_config));
  EXPECT_EQ(std::get<vae::Vae22Config>(files.vae_config).common.z_dim, 48);
  EXPECT_FALSE(files.two_experts());
}

TEST(Wan22Families, Wan21DiffusersFolderStaysWan21) {
  test::TempDir dir;
  make_diffusers_a14b(dir.path());
  fs::remove_all(dir / "transformer_2");
  EXPECT_EQ(resolve_model(folder(dir)).family, "Wan2.1 diffusers");
}

TEST(Wan22Families, ComfyFolderPicksTheModelByItsDitFilesAndPrefersFp16) {
  test::TempDir dir;
  make_comfy_t2v(dir.path());
  const ModelSource source = resolve_model(folder(dir));
  ASSERT_EQ(source.family, "Wan2.2 Comfy-Org");
  const ModelFiles files = locate_model_files(source);
  EXPECT_EQ(files.dit, comfy(dir.path(), "diffusion_models") / "wan2.2_t2v_high_noise_14B_fp16.safetensors");
  EXPECT_EQ(files.low_noise_dit, comfy(dir.path(), "diffusion_models") / "wan2.2_t2v_low_noise_14B_fp16.safetensors");
  EXPECT_EQ(files.vae, comfy(dir.path(), "vae") / "wan_2.1_vae.safetensors");
  EXPECT_EQ(files.text_encoder, comfy(dir.path(), "text_encoders") / "umt5_xxl_fp16.safetensors");
  EXPECT_EQ(files.tokenizer, dir / "spiece.model");
  EXPECT_EQ(files.boundary, 0.875);
  EXPECT_EQ(files.defaults.shift, 12.0);
}

TEST(Wan22Families, ComfyFolderWithSeveralModelsAsksForDit) {
  test::TempDir dir;
  make_comfy_t2v(dir.path());
  write_dit(comfy(dir.path(), "diffusion_models") / "wan2.2_ti2v_5B_fp16.safetensors", 3072, 48);
  touch(comfy(dir.path(), "vae") / "wan2.2_vae.safetensors");
  const std::string error = model_error(folder(dir));
  EXPECT_NE(error.find("holds several Wan2.2 models (ti2v-5b, t2v-a14b); pass the one to use with --dit"),
            std::string::npos)
      << error;
}

TEST(Wan22Families, ComfyFolderNamesMissingParts) {
  test::TempDir dir;
  make_comfy_t2v(dir.path());
  fs::remove(comfy(dir.path(), "vae") / "wan_2.1_vae.safetensors");
  EXPECT_NE(model_error(folder(dir)).find("Comfy-Org Wan2.2 layout is missing split_files/vae/wan_2.1_vae.safetensors"),
            std::string::npos);
  fs::remove(comfy(dir.path(), "diffusion_models") / "wan2.2_t2v_low_noise_14B_fp16.safetensors");
  EXPECT_NE(model_error(folder(dir)).find("a whole model in split_files/diffusion_models/"), std::string::npos);
}

TEST(Wan22Families, ComfyFolderWithoutTokenizerSaysPassTokenizer) {
  test::TempDir dir;
  make_comfy_t2v(dir.path());
  fs::remove(dir / "spiece.model");
  EXPECT_NE(model_error(folder(dir)).find("Comfy-Org ships none: pass --tokenizer"), std::string::npos);
}

// --- single files -----------------------------------------------------------

fs::path golden22(const char* name) { return test::golden_dir() / "wan22" / name; }

TEST(Wan22Families, Wan22VaeGivenToVaeIsToldByItsZDim) {
  ModelSpec spec;  // the bundled default (a Wan2.1-shaped DiT of in_dim 16)
  spec.vae = golden22("wan22_vae.safetensors");
  const std::string error = model_error(spec);
  EXPECT_NE(error.find("the DiT takes 16 and gives 16 latent channels, the Wan2.2 VAE has 48"), std::string::npos)
      << error;
}

TEST(Wan22Families, Ti2vDitAndWan22VaeGivenAsFilesBringTheTi2vDefaults) {
  test::TempDir dir;
  fs::copy_file(golden22("wan22_ti2v_dit.safetensors"), dir / "wan22_ti2v_5B_tiny.safetensors");
  write_json(dir / "config.json", test::GoldenFile(golden22("wan22_ti2v_dit.safetensors")).config());
  ModelSpec spec;
  spec.dit = dir / "wan22_ti2v_5B_tiny.safetensors";
  spec.vae = golden22("wan22_vae.safetensors");
  const ModelFiles files = locate_model_files(resolve_model(spec));
  EXPECT_EQ(files.dit_config.model_type, "ti2v");
  EXPECT_EQ(files.dit_config.in_dim, 48);
  EXPECT_TRUE(std::holds_alternative<vae::Vae22Config>(files.vae_config));
  EXPECT_EQ(files.defaults.frames, 121);
  EXPECT_EQ(files.defaults.height, 704);
}

TEST(Wan22Families, LowNoiseDitNeedsDit) {
  ModelSpec spec;
  spec.low_noise_dit = golden22("wan22_ti2v_dit.safetensors");
  EXPECT_NE(model_error(spec).find("--low-noise-dit '"), std::string::npos);
  EXPECT_NE(model_error(spec).find("needs --dit, the high-noise expert"), std::string::npos);
}

TEST(Wan22Families, LowNoiseDitWithATi2vDitIsRefused) {
  test::TempDir dir;
  fs::copy_file(golden22("wan22_ti2v_dit.safetensors"), dir / "ti2v.safetensors");
  write_json(dir / "config.json", test::GoldenFile(golden22("wan22_ti2v_dit.safetensors")).config());
  ModelSpec spec;
  spec.dit = dir / "ti2v.safetensors";
  spec.low_noise_dit = dir / "ti2v.safetensors";
  EXPECT_NE(model_error(spec).find("is TI2V-5B, which has one DiT, yet a low-noise expert came with it"),
            std::string::npos);
}

// --- model.json ---------------------------------------------------------------

json two_expert_manifest() {
  json model = test::GoldenFile(test::golden_dir() / "dit.safetensors").config();
  json manifest = {{"tokenizer", "spiece.model"},
                   {"text_encoder", {{"weights", "te.safetensors"}, {"config", shipped("umt5-xxl.json")}}},
                   {"dit", {{"weights", "high.safetensors"}, {"config", shipped("wan2.2-t2v-a14b.json")}}},
                   {"low_noise_dit", {{"weights", "low.safetensors"}, {"config", shipped("wan2.2-t2v-a14b.json")}}},
                   {"boundary", 0.875},
                   {"vae", {{"weights", "vae.safetensors"}, {"config", shipped("wan2.2-vae.json")}}}};
  return manifest;
}

TEST(Wan22Families, ManifestTakesALowNoiseExpertAndTheWan22Vae) {
  const ModelFiles files = parse_model_manifest(two_expert_manifest().dump(), "/m/model.json");
  EXPECT_EQ(files.low_noise_dit, fs::path("/m/low.safetensors"));
  EXPECT_EQ(files.low_noise_dit_config.dim, 5120);
  EXPECT_EQ(files.boundary, 0.875);
  ASSERT_TRUE(std::holds_alternative<vae::Vae22Config>(files.vae_config));  // "dec_dim" marks it
}

TEST(Wan22Families, ManifestBoundaryRules) {
  json manifest = two_expert_manifest();
  manifest.erase("boundary");
  EXPECT_THROW(parse_model_manifest(manifest.dump(), "/m/model.json"), ModelError);
  manifest["boundary"] = 1.0;
  EXPECT_THROW(parse_model_manifest(manifest.dump(), "/m/model.json"), ModelError);
  manifest.erase("low_noise_dit");
  manifest["boundary"] = 0.5;
  try {
    parse_model_manifest(manifest.dump(), "/m/model.json");
    ADD_FAILURE() << "a boundary without a low-noise expert was accepted";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("\"boundary\" without \"low_noise_dit\""), std::string::npos);
  }
}

TEST(Wan22Families, ShippedDefaultsFilesKeepTheFieldRules) {
  test::TempDir dir;
  json bad = shipped("wan2.2-t2v-a14b.defaults.json");
  bad["defaults"]["frames"] = 80;  // not 4k+1
  write_json(dir / "bad.defaults.json", bad);
  EXPECT_THROW(read_model_defaults(dir / "bad.defaults.json"), ModelError);
  const ShippedDefaults good = read_model_defaults(models_directory() / "configs" / "wan2.2-t2v-a14b.defaults.json");
  EXPECT_EQ(good.boundary, 0.875);
}

}  // namespace
}  // namespace soragen::pipeline
