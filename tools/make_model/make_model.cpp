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

ordered_json read_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read config '" + path + "'");
  return ordered_json::parse(in);
}

// Norm scales start at one and biases at zero, as the reference's init does;
// matrices and embeddings get variance-preserving normal draws. Values are
// drawn in float32 one tensor at a time and stored as `dtype`, so a 5.7B
// parameter encoder never needs float32 memory for all of it.
std::map<std::string, at::Tensor> seeded_weights(torch::nn::Module& module, at::Generator& generator,
                                                 at::ScalarType dtype) {
  std::map<std::string, at::Tensor> out;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    const std::string& name = item.key();
    const at::Tensor& p = item.value();
    at::Tensor value;
    const bool is_norm = name.find("norm") != std::string::npos || name.find("gamma") != std::string::npos;
    if (p.dim() <= 1) {
      value = is_norm ? at::ones(p.sizes()) : at::zeros(p.sizes());
    } else {
      const double fan_in = static_cast<double>(p.numel() / p.size(0));
      const bool is_table = name.find("modulation") != std::string::npos;
      const double stdev = is_table ? 0.02 : 1.0 / std::sqrt(std::max(1.0, fan_in));
      value = at::randn(p.sizes(), generator, at::TensorOptions().dtype(at::kFloat)).mul_(stdev);
    }
    // Norms and modulation stay float32, as the reference computes them.
    out[name] = (p.dim() <= 1 || name.find("modulation") != std::string::npos) ? value : value.to(dtype);
  }
  return out;
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
  app.add_option("--tokenizer", tokenizer, "sentencepiece model to ship")->required()->check(CLI::ExistingFile);
  app.add_option("--vocab", vocab, "the tokenizer's vocabulary size (tiny encoder only)")->capture_default_str();
  app.add_option("--text-encoder-config", te_config_path, "umT5 config JSON [default: tiny]")->check(CLI::ExistingFile);
  app.add_option("--dit-config", dit_config_path, "DiT config JSON [default: tiny]")->check(CLI::ExistingFile);
  app.add_option("--vae-config", vae_config_path, "VAE config JSON [default: tiny]")->check(CLI::ExistingFile);
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
    const ordered_json te_json = te_config_path.empty() ? text_encoder_config(vocab) : read_config(te_config_path);
    auto te_config = soragen::text_encoder::UMT5Config::from_json(nlohmann::json::parse(te_json.dump()), "default");
    soragen::text_encoder::UMT5BuildOptions build;
    build.tensors = at::TensorOptions().dtype(dtype);
    soragen::text_encoder::UMT5Encoder encoder(te_config, build);
    soragen::io::save_safetensors(fs::path(out_dir) / "text_encoder.safetensors", seeded_weights(*encoder, generator, dtype));

    const ordered_json dit_json = dit_config_path.empty() ? dit_config() : read_config(dit_config_path);
    const auto config = soragen::dit::DitConfig::from_json(nlohmann::json::parse(dit_json.dump()), "default");
    soragen::dit::WanModel dit(config, dtype);
    soragen::io::save_safetensors(fs::path(out_dir) / "dit.safetensors", seeded_weights(*dit, generator, dtype));

    const ordered_json vae_json = vae_config_path.empty() ? vae_config() : read_config(vae_config_path);
    soragen::vae::WanVAE vae(soragen::vae::VaeConfig::from_json(nlohmann::json::parse(vae_json.dump()), "default"));
    soragen::io::save_safetensors(fs::path(out_dir) / "vae.safetensors", seeded_weights(*vae, generator, at::kFloat));

    fs::copy_file(tokenizer, fs::path(out_dir) / "spiece.model", fs::copy_options::overwrite_existing);

    ordered_json model;
    model["name"] = "default";
    model["notice"] = !notice.empty() ? notice
                      : "the embedded default model is untrained (weights drawn from seed " + std::to_string(seed) +
                            "): it renders abstract patterns, not the prompt; pass --model DIR for Wan2.1 weights";
    model["tokenizer"] = "spiece.model";
    model["text_encoder"] = {{"weights", "text_encoder.safetensors"}, {"config", te_json}};
    model["dit"] = {{"weights", "dit.safetensors"}, {"config", dit_json}};
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
