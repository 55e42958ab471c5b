// Writes a bundled-format model directory (model.json, the tokenizer and
// safetensors in the official key names) with weights drawn from a fixed
// seed, untrained. Two uses:
//  - tiny configs that render in seconds through the real code path (tests,
//    smoke checks); they show patterns, not the prompt. The embedded default
//    in models/default/ is the trained one (scripts/train_default_model.sh);
//  - benchmarks: the real Wan2.1 sizes with random weights, no download.
//
//   soragen-make-model --tokenizer tests/data/spm/tiny.model --out /tmp/tiny
//   soragen-make-model --tokenizer tests/data/spm/tiny.model --out /tmp/wan-1.3b (one line:)
//       --text-encoder-config models/configs/umt5-xxl.json
//       --dit-config models/configs/wan2.1-t2v-1.3b.json
//       --vae-config models/configs/wan2.1-vae.json --dtype bf16
//   Wan2.2 A14B (two experts, the Wan2.1 VAE): --dit-config models/configs/wan2.2-t2v-a14b.json
//       --low-noise-dit-config models/configs/wan2.2-t2v-a14b.json --boundary 0.875
//   Wan2.2 TI2V-5B: --dit-config models/configs/wan2.2-ti2v-5b.json --vae-config models/configs/wan2.2-vae.json
//
// Weights are drawn into the module's own parameters, so peak memory is about
// one component at its storage dtype: a 14B bf16 expert needs ~29 GiB.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/module.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "dit/wan_model.h"
#include "io/safetensors_writer.h"
#include "text_encoder/umt5.h"
#include "vae/wan22_vae.h"
#include "vae/wan_vae.h"

namespace fs = std::filesystem;
using nlohmann::ordered_json;

namespace {

// Sizes chosen so a 17-frame 64x64 render takes seconds on two CPU cores.
ordered_json text_encoder_config(int64_t vocab) {
  return {{"vocab", vocab}, {"dim", 64}, {"dim_attn", 64}, {"dim_ffn", 128}, {"num_heads", 4},
          {"num_layers", 2}, {"num_buckets", 32}, {"max_dist", 128}, {"eps", 1e-6}, {"text_len", 64}};
}

ordered_json dit_config() {
  return {{"model_type", "t2v"}, {"patch_size", {1, 2, 2}}, {"text_len", 64}, {"in_dim", 16}, {"dim", 64},
          {"ffn_dim", 128}, {"freq_dim", 256}, {"text_dim", 64}, {"out_dim", 16}, {"num_heads", 4},
          {"num_layers", 2}, {"window_size", {-1, -1}}, {"qk_norm", true}, {"cross_attn_norm", true},
          {"eps", 1e-6}};
}

ordered_json vae_config() {
  return {{"dim", 8}, {"z_dim", 16}, {"dim_mult", {1, 2, 4, 4}}, {"num_res_blocks", 2},
          {"attn_scales", ordered_json::array()}, {"temperal_downsample", {false, true, true}},
          {"dropout", 0.0}, {"latents_mean", std::vector<double>(16, 0.0)},
          {"latents_std", std::vector<double>(16, 1.0)}};
}

// The Wan2.2 VAE at test size: one width for encoder and decoder, 48 latent
// channels as the real one (the DiT's in_dim and out_dim must match).
ordered_json vae22_config() {
  ordered_json c = vae_config();
  c["dec_dim"] = 8;
  c["z_dim"] = 48;
  c["patch_size"] = 2;
  c["latents_mean"] = std::vector<double>(48, 0.0);
  c["latents_std"] = std::vector<double>(48, 1.0);
  return c;
}

ordered_json read_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read config '" + path + "'");
  return ordered_json::parse(in);
}

// Norm scales start at one and biases at zero, as the reference's init does;
// matrices and embeddings get variance-preserving normal draws. Values are
// drawn in float32 one tensor at a time and copied into the parameter, which
// the map then shares, so a 5B model never needs a second copy of itself.
std::map<std::string, at::Tensor> seeded_weights(torch::nn::Module& module, at::Generator& generator,
                                                 at::ScalarType dtype) {
  std::map<std::string, at::Tensor> out;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    const std::string& name = item.key();
    at::Tensor p = item.value();
    const bool is_norm = name.find("norm") != std::string::npos || name.find("gamma") != std::string::npos;
    const bool is_table = name.find("modulation") != std::string::npos;
    if (p.dim() <= 1) {
      // Norms and biases stay float32, as the reference computes them.
      out[name] = is_norm ? at::ones(p.sizes()) : at::zeros(p.sizes());
      continue;
    }
    const double fan_in = static_cast<double>(p.numel() / p.size(0));
    const double stdev = is_table ? 0.02 : 1.0 / std::sqrt(std::max(1.0, fan_in));
    p.copy_(at::randn(p.sizes(), generator, at::TensorOptions().dtype(at::kFloat)).mul_(stdev));
    // Modulation tables stay float32 too; the rest is stored as `dtype`.
    const at::ScalarType stored = is_table ? at::kFloat : dtype;
    out[name] = p.scalar_type() == stored ? p : p.to(stored);
  }
  return out;
}

// A DiT of `json` with seeded weights, written to `file`; freed on return.
void write_dit(const ordered_json& json, const fs::path& file, at::Generator& generator, at::ScalarType dtype) {
  const auto config = soragen::dit::DitConfig::from_json(nlohmann::json::parse(json.dump()), file.string());
  soragen::dit::WanModel dit(config, dtype);
  soragen::io::save_safetensors(file, seeded_weights(*dit, generator, dtype));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Writes a bundled-format model directory with untrained, seeded weights."};
  std::string tokenizer;
  std::string out_dir;
  std::uint64_t seed = 20261122;
  int64_t vocab = 400;
  std::string te_config_path, dit_config_path, vae_config_path, dtype_name = "fp32";
  std::string notice;
  std::string vae_kind = "auto";
  std::string low_noise_config_path;
  double boundary = 0.875;
  app.add_option("--tokenizer", tokenizer, "sentencepiece model to ship")->required()->check(CLI::ExistingFile);
  app.add_option("--vocab", vocab, "the tokenizer's vocabulary size (tiny encoder only)")->capture_default_str();
  app.add_option("--text-encoder-config", te_config_path, "umT5 config JSON [default: tiny]")->check(CLI::ExistingFile);
  app.add_option("--dit-config", dit_config_path, "DiT config JSON [default: tiny]")->check(CLI::ExistingFile);
  app.add_option("--vae-config", vae_config_path, "VAE config JSON [default: tiny]")->check(CLI::ExistingFile);
  app.add_option("--vae-kind", vae_kind,
                 "wan2.1 (WanVAE, z 16, 8x) or wan2.2 (WanVAE22 with the Wan2.2_VAE.pth names, z 48, 16x); "
                 "auto: wan2.2 when the VAE config has a dec_dim key (the decoder width only Wan2.2 has), "
                 "else wan2.1; without --vae-config, the tiny config of that kind")
      ->check(CLI::IsMember({"auto", "wan2.1", "wan2.2"}))->capture_default_str();
  app.add_option("--low-noise-dit-config", low_noise_config_path,
                 "a second DiT (the low-noise expert of Wan2.2 A14B), written as low_noise_dit.safetensors")
      ->check(CLI::ExistingFile);
  app.add_option("--boundary", boundary,
                 "two experts: the high-noise one runs while t >= boundary * 1000 (T2V-A14B 0.875, I2V-A14B 0.9)")
      ->capture_default_str();
  app.add_option("--dtype", dtype_name, "storage of the matrices: fp32, bf16 or fp16")
      ->check(CLI::IsMember({"fp32", "bf16", "fp16"}))->capture_default_str();
  app.add_option("--notice", notice, "warning logged when the model loads [default: says it is untrained]");
  app.add_option("--out", out_dir, "output directory")->required();
  app.add_option("--seed", seed, "seed of the weights")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    fs::create_directories(out_dir);
    at::Generator generator = at::detail::createCPUGenerator(seed);
    const torch::NoGradGuard no_grad;

    const at::ScalarType dtype = dtype_name == "bf16" ? at::kBFloat16 : dtype_name == "fp16" ? at::kHalf : at::kFloat;
    // Every config is read and checked before the first weight is drawn.
    // The boundary is a fraction of the 1000 training timesteps, strictly
    // inside, as the model.json reader requires.
    if (!(boundary > 0.0 && boundary < 1.0)) {
      throw std::runtime_error("--boundary must be between 0 and 1 (exclusive), got " + std::to_string(boundary));
    }
    const ordered_json dit_json = dit_config_path.empty() ? dit_config() : read_config(dit_config_path);
    const ordered_json low_noise_json =
        low_noise_config_path.empty() ? ordered_json() : read_config(low_noise_config_path);
    ordered_json vae_json;
    if (!vae_config_path.empty()) vae_json = read_config(vae_config_path);
    if (vae_kind == "auto") vae_kind = vae_json.contains("dec_dim") ? "wan2.2" : "wan2.1";
    if (vae_json.is_null()) vae_json = vae_kind == "wan2.2" ? vae22_config() : vae_config();
    // The DiT denoises the VAE's latent: out_dim must be its z_dim (in_dim
    // may add conditioning channels, as i2v's 36 = 16 + 4 mask + 16 image).
    const int64_t z_dim = vae_json.value("z_dim", vae_kind == "wan2.2" ? 48 : 16);
    for (const ordered_json* json : {&dit_json, &low_noise_json}) {
      if (!json->is_null() && json->value("out_dim", int64_t{16}) != z_dim) {
        throw std::runtime_error("a DiT has out_dim " + std::to_string(json->value("out_dim", int64_t{16})) +
                                 " but the " + vae_kind + " VAE has z_dim " + std::to_string(z_dim));
      }
    }

    const ordered_json te_json = te_config_path.empty() ? text_encoder_config(vocab) : read_config(te_config_path);
    auto te_config = soragen::text_encoder::UMT5Config::from_json(nlohmann::json::parse(te_json.dump()), "default");
    soragen::text_encoder::UMT5BuildOptions build;
    build.tensors = at::TensorOptions().dtype(dtype);
    soragen::text_encoder::UMT5Encoder encoder(te_config, build);
    soragen::io::save_safetensors(fs::path(out_dir) / "text_encoder.safetensors", seeded_weights(*encoder, generator, dtype));

    write_dit(dit_json, fs::path(out_dir) / "dit.safetensors", generator, dtype);
    if (!low_noise_json.is_null()) {
      write_dit(low_noise_json, fs::path(out_dir) / "low_noise_dit.safetensors", generator, dtype);
    }
    const nlohmann::json vae_plain = nlohmann::json::parse(vae_json.dump());
    const fs::path vae_file = fs::path(out_dir) / "vae.safetensors";
    if (vae_kind == "wan2.2") {
      soragen::vae::WanVAE22 vae(soragen::vae::Vae22Config::from_json(vae_plain, "vae config"));
      soragen::io::save_safetensors(vae_file, seeded_weights(*vae, generator, at::kFloat));
    } else {
      soragen::vae::WanVAE vae(soragen::vae::VaeConfig::from_json(vae_plain, "vae config"));
      soragen::io::save_safetensors(vae_file, seeded_weights(*vae, generator, at::kFloat));
    }

    fs::copy_file(tokenizer, fs::path(out_dir) / "spiece.model", fs::copy_options::overwrite_existing);

    ordered_json model;
    model["name"] = "default";
    model["notice"] = !notice.empty() ? notice
                      : "the embedded default model is untrained (weights drawn from seed " + std::to_string(seed) +
                            "): it renders abstract patterns, not the prompt; pass --model DIR for Wan2.1 weights";
    model["tokenizer"] = "spiece.model";
    model["text_encoder"] = {{"weights", "text_encoder.safetensors"}, {"config", te_json}};
    model["dit"] = {{"weights", "dit.safetensors"}, {"config", dit_json}};
    if (!low_noise_json.is_null()) {
      model["low_noise_dit"] = {{"weights", "low_noise_dit.safetensors"}, {"config", low_noise_json}};
      model["boundary"] = boundary;
    }
    model["vae"] = {{"weights", "vae.safetensors"}, {"config", vae_json}};
    model["defaults"] = {{"frames", 17}, {"width", 64}, {"height", 64}, {"fps", 8}, {"steps", 20},
                         {"guidance", 5.0}, {"shift", 5.0}, {"sampler", "unipc"}, {"negative_prompt", ""}};
    std::ofstream(fs::path(out_dir) / "model.json") << model.dump(2) << "\n";
    std::cout << "wrote " << out_dir << "\n";
  } catch (const std::exception& e) {
    std::cerr << "soragen-make-model: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
