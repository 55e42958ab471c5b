#include "pipeline/model_files.h"

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

// wan/configs/shared_config.py sample_neg_prompt, used when no negative
// prompt is given.
constexpr const char* kWanNegativePrompt =
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走";

json read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw ModelError("model file '" + path.string() + "': cannot be read");
  json value = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded() || !value.is_object()) {
    throw ModelError("model file '" + path.string() + "': not a JSON object");
  }
  return value;
}

fs::path require_file(const fs::path& path, const std::string& what) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw ModelError(what + " '" + path.string() + "': no such file");
  return path;
}

const json& require_key(const json& object, const char* key, const fs::path& where) {
  if (!object.contains(key)) throw ModelError("model file '" + where.string() + "': missing \"" + key + "\"");
  return object.at(key);
}

GenerationDefaults parse_defaults(const json& object, const fs::path& where) {
  GenerationDefaults d = wan_t2v_defaults();
  try {
    d.negative_prompt = object.value("negative_prompt", d.negative_prompt);
    d.frames = object.value("frames", d.frames);
    d.width = object.value("width", d.width);
    d.height = object.value("height", d.height);
    d.fps = object.value("fps", d.fps);
    d.steps = object.value("steps", d.steps);
    d.guidance = object.value("guidance", d.guidance);
    d.shift = object.value("shift", d.shift);
    d.sampler = object.value("sampler", d.sampler);
  } catch (const json::exception& e) {
    throw ModelError("model file '" + where.string() + "': bad \"defaults\": " + e.what());
  }
  return d;
}

// A bundled model: model.json names its files and holds its configs.
ModelFiles bundled_files(const ModelSource& source) {
  const fs::path manifest = source.directory / "model.json";
  const json model = read_json(manifest);
  ModelFiles files;
  const std::string where = "model file '" + manifest.string() + "'";
  try {
    files.tokenizer = require_file(source.directory / require_key(model, "tokenizer", manifest).get<std::string>(),
                                   "tokenizer");
    const json& te = require_key(model, "text_encoder", manifest);
    files.text_encoder = require_file(source.directory / te.at("weights").get<std::string>(), "text encoder");
    files.text_encoder_config = text_encoder::parse_umt5_config(te.at("config"), where + " text_encoder.config");
    const json& dt = require_key(model, "dit", manifest);
    files.dit = require_file(source.directory / dt.at("weights").get<std::string>(), "transformer");
    files.dit_config = dit::DitConfig::from_json(dt.at("config"), where + " dit.config");
    const json& va = require_key(model, "vae", manifest);
    files.vae = require_file(source.directory / va.at("weights").get<std::string>(), "VAE");
    files.vae_config = vae::VaeConfig::from_json(va.at("config"), where + " vae.config");
  } catch (const json::exception& e) {
    throw ModelError(where + ": " + e.what());
  }
  files.defaults = parse_defaults(model.value("defaults", json::object()), manifest);
  files.notice = model.value("notice", std::string());
  return files;
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
  const json raw = read_json(path);
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

GenerationDefaults wan_t2v_defaults() {
  GenerationDefaults d;
  d.negative_prompt = kWanNegativePrompt;
  d.frames = 81;
  d.width = 832;
  d.height = 480;
  d.fps = 16;
  d.steps = 50;
  d.guidance = 5.0;
  d.shift = 5.0;
  d.sampler = "unipc";
  return d;
}

ModelFiles locate_model_files(const ModelSource& source) {
  return source.kind == ModelSource::Kind::bundled ? bundled_files(source) : wan_files(source);
}

}  // namespace soragen::pipeline
