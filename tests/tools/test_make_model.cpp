// soragen-make-model writing Wan2.2 models at test size: the Wan2.2 VAE
// (official Wan2.2_VAE.pth names) and two DiT experts load strictly with the
// engine's own loaders, model.json names the second expert and the boundary,
// and a DiT whose out_dim does not fit the VAE is refused.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "dit/config.h"
#include "dit/wan_model.h"
#include "io/tensor_source.h"
#include "test_util.h"
#include "vae/wan22_config.h"
#include "vae/wan22_vae.h"

namespace {

using soragen::test::TempDir;

// A two-block DiT over the Wan2.2 VAE's 48 latent channels.
nlohmann::json tiny_dit(const std::string& model_type, int64_t in_dim, int64_t out_dim) {
  return {{"model_type", model_type}, {"patch_size", {1, 2, 2}}, {"text_len", 64}, {"in_dim", in_dim},
          {"dim", 64}, {"ffn_dim", 128}, {"freq_dim", 256}, {"text_dim", 64}, {"out_dim", out_dim},
          {"num_heads", 4}, {"num_layers", 2}, {"window_size", {-1, -1}}, {"qk_norm", true},
          {"cross_attn_norm", true}, {"eps", 1e-6}};
}

std::string write_json(const TempDir& dir, const std::string& name, const nlohmann::json& json) {
  std::ofstream(dir / name) << json.dump();
  return (dir / name).string();
}

std::string make_model_command(const std::string& args) {
  return (soragen::test::build_dir() / "soragen-make-model").string() +
         " --tokenizer " + (soragen::test::data_dir() / "spm" / "tiny.model").string() + " " + args;
}

TEST(MakeModel, WritesATwoExpertModelWithAWan22VaeThatLoads) {
  TempDir dir;
  const std::string high = write_json(dir, "high.json", tiny_dit("ti2v", 48, 48));
  const std::string low = write_json(dir, "low.json", tiny_dit("ti2v", 48, 48));
  const auto out = dir / "model";
  const auto result = soragen::test::run_command(make_model_command(
      "--vae-kind wan2.2 --dit-config " + high + " --low-noise-dit-config " + low + " --boundary 0.9 --out " +
      out.string()));
  ASSERT_EQ(result.exit_code, 0) << result.output;

  std::ifstream in(out / "model.json");
  const nlohmann::json model = nlohmann::json::parse(in);
  EXPECT_EQ(model.at("low_noise_dit").at("weights"), "low_noise_dit.safetensors");
  EXPECT_EQ(model.at("low_noise_dit").at("config").at("model_type"), "ti2v");
  EXPECT_DOUBLE_EQ(model.at("boundary").get<double>(), 0.9);
  EXPECT_EQ(model.at("vae").at("config").at("z_dim"), 48);

  // Strict loads: every parameter present with its shape, nothing extra.
  const soragen::Logger log;
  const auto vae_config = soragen::vae::Vae22Config::from_json(model.at("vae").at("config"), "model.json vae");
  EXPECT_EQ(vae_config.spatial_factor(), 16);
  soragen::vae::WanVAE22 vae(vae_config);
  EXPECT_NO_THROW(vae->load_weights(*soragen::io::open_weights(out / "vae.safetensors"), log));

  soragen::dit::DitLoadOptions strict;
  strict.strict_weights = true;
  const auto dit_config = soragen::dit::DitConfig::from_json(model.at("dit").at("config"), "dit");
  const auto high_dit =
      soragen::dit::load_wan_model(dit_config, *soragen::io::open_weights(out / "dit.safetensors"), log, strict);
  const auto low_dit = soragen::dit::load_wan_model(
      dit_config, *soragen::io::open_weights(out / "low_noise_dit.safetensors"), log, strict);
  // The experts are drawn one after the other from the seed: not the same net.
  const at::Tensor a = high_dit->named_parameters()["blocks.0.self_attn.q.weight"];
  const at::Tensor b = low_dit->named_parameters()["blocks.0.self_attn.q.weight"];
  EXPECT_FALSE(at::equal(a, b));
  EXPECT_GT(a.std().item<double>(), 0.0);
}

TEST(MakeModel, DetectsTheWan22VaeFromDecDimAndRefusesADitOfAnotherLatent) {
  TempDir dir;
  nlohmann::json vae = {{"dim", 8}, {"dec_dim", 8}, {"z_dim", 48}, {"dim_mult", {1, 2, 4, 4}},
                        {"num_res_blocks", 1}, {"attn_scales", nlohmann::json::array()},
                        {"temperal_downsample", {false, true, true}}, {"dropout", 0.0},
                        {"latents_mean", std::vector<double>(48, 0.0)}, {"latents_std", std::vector<double>(48, 1.0)}};
  const std::string vae_path = write_json(dir, "vae.json", vae);
  // The default tiny DiT has out_dim 16: it cannot denoise 48 channels.
  const auto refused = soragen::test::run_command(
      make_model_command("--vae-config " + vae_path + " --out " + (dir / "bad").string()));
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("z_dim 48"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("wan2.2"), std::string::npos) << refused.output;

  const std::string dit_path = write_json(dir, "dit.json", tiny_dit("ti2v", 48, 48));
  const auto made = soragen::test::run_command(make_model_command(
      "--vae-config " + vae_path + " --dit-config " + dit_path + " --out " + (dir / "good").string()));
  ASSERT_EQ(made.exit_code, 0) << made.output;
  soragen::vae::WanVAE22 model(soragen::vae::Vae22Config::from_json(vae, "vae.json"));
  EXPECT_NO_THROW(model->load_weights(*soragen::io::open_weights(dir / "good" / "vae.safetensors"), soragen::Logger()));
  // One expert: no second-expert keys in model.json.
  std::ifstream in(dir / "good" / "model.json");
  const nlohmann::json manifest = nlohmann::json::parse(in);
  EXPECT_FALSE(manifest.contains("low_noise_dit"));
  EXPECT_FALSE(manifest.contains("boundary"));
}

}  // namespace
