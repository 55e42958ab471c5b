#include "pipeline/model_files.h"
#include "pipeline/model_manifest.h"

#include <fstream>
#include <optional>

#include <nlohmann/json.hpp>

#include "dit/wan_model.h"
#include "io/tensor_source.h"
#include "soragen/error.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace soragen::pipeline {
namespace {

// A bundled model: model.json names its files and holds its configs.
ModelFiles bundled_files(const ModelSource& source) {
  const fs::path manifest = source.directory / "model.json";
  return manifest_files(read_json_config(manifest), source.directory, manifest, /*check_files=*/true);
}

// The shipped DiT config whose width matches the weights (1.3B: 1536, 14B: 5120).
dit::DitConfig dit_config_for_width(int64_t dim, const fs::path& weights) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(models_directory() / "configs", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("wan2.1-t2v-", 0) != 0) continue;
    dit::DitConfig config = dit::DitConfig::from_file(entry.path());
    if (config.dim == dim) return config;
  }
  throw ModelError("transformer '" + weights.string() + "': width " + std::to_string(dim) +
                   " matches no known Wan2.1 T2V model (1.3B: 1536, 14B: 5120)");
}

int64_t dit_width(const fs::path& weights) {
  const auto source = io::open_weights(weights);
  for (const char* name : {"patch_embedding.weight", "model.diffusion_model.patch_embedding.weight"}) {
    if (source->contains(name)) return source->info(name).shape.at(0);
  }
  throw ModelError("transformer '" + weights.string() + "': no patch_embedding.weight tensor");
}

// The DiT config a download carries beside its weights, when it has one: the
// official folder's config.json uses the WanModel names, diffusers'
// transformer/config.json its own. Empty when absent.
std::optional<dit::DitConfig> dit_config_beside(const ModelSource& source) {
  const bool diffusers = source.kind == ModelSource::Kind::wan_diffusers;
  const fs::path path = diffusers ? source.directory / "transformer" / "config.json" : source.directory / "config.json";
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  const json raw = read_json_config(path);
  const std::string where = "config '" + path.string() + "'";
  if (!diffusers) return dit::DitConfig::from_json(raw, where);
  try {
    json wan = {{"model_type", "t2v"},
                {"dim", raw.at("num_attention_heads").get<int64_t>() * raw.at("attention_head_dim").get<int64_t>()},
                {"num_heads", raw.at("num_attention_heads")},
                {"num_layers", raw.at("num_layers")},
                {"ffn_dim", raw.at("ffn_dim")},
                {"freq_dim", raw.value("freq_dim", 256)},
                {"text_dim", raw.value("text_dim", 4096)},
                {"in_dim", raw.value("in_channels", 16)},
                {"out_dim", raw.value("out_channels", 16)},
                {"patch_size", raw.value("patch_size", json::array({1, 2, 2}))},
                {"eps", raw.value("eps", 1e-6)},
                // diffusers names the norm ("rms_norm_across_heads") or null
                {"qk_norm", !raw.contains("qk_norm") || !raw.at("qk_norm").is_null()},
                {"cross_attn_norm", raw.value("cross_attn_norm", true)},
                {"window_size", json::array({-1, -1})},
                {"text_len", 512}};
    return dit::DitConfig::from_json(wan, where);
  } catch (const json::exception& e) {
    throw ModelError(where + ": " + e.what());
  }
}

fs::path first_existing(const std::vector<fs::path>& candidates, const std::string& what) {
  std::error_code ec;
  std::string tried;
  for (const auto& path : candidates) {
    if (fs::exists(path, ec)) return path;
    tried += (tried.empty() ? "" : ", ") + path.string();
  }
  throw ModelError(what + ": none of " + tried + " exists");
}

ModelFiles wan_files(const ModelSource& source) {
  const fs::path& dir = source.directory;
  const fs::path configs = models_directory() / "configs";
  ModelFiles files;
  const bool diffusers = source.kind == ModelSource::Kind::wan_diffusers;
  files.tokenizer = first_existing(
      diffusers ? std::vector<fs::path>{dir / "tokenizer" / "spiece.model"}
                : std::vector<fs::path>{dir / "google" / "umt5-xxl" / "spiece.model"},
      "tokenizer");
  files.text_encoder = first_existing(
      diffusers ? std::vector<fs::path>{dir / "text_encoder" / "model.safetensors.index.json",
                                        dir / "text_encoder" / "model.safetensors"}
                : std::vector<fs::path>{dir / "models_t5_umt5-xxl-enc-bf16.pth"},
      "text encoder");
  files.text_encoder_config = text_encoder::load_umt5_config(configs / "umt5-xxl.json");
  files.dit = dit::find_dit_weights(dir);
  const int64_t width = dit_width(files.dit);
  if (const auto beside = dit_config_beside(source)) {
    if (beside->dim != width) {
      throw ModelError("transformer '" + files.dit.string() + "': width " + std::to_string(width) +
                       " disagrees with its config.json (dim " + std::to_string(beside->dim) + ")");
    }
    files.dit_config = *beside;
  } else {
    files.dit_config = dit_config_for_width(width, files.dit);
  }
  files.vae = first_existing(
      diffusers ? std::vector<fs::path>{dir / "vae" / "diffusion_pytorch_model.safetensors"}
                : std::vector<fs::path>{dir / "Wan2.1_VAE.pth"},
      "VAE");
  files.vae_config = vae::VaeConfig::load(configs / "wan2.1-vae.json");
  files.defaults = wan_t2v_defaults();
  return files;
}

}  // namespace

ModelFiles locate_model_files(const ModelSource& source) {
  return source.kind == ModelSource::Kind::bundled ? bundled_files(source) : wan_files(source);
}

}  // namespace soragen::pipeline
