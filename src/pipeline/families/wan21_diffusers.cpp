// Wan-AI/Wan2.1-T2V-*-Diffusers: model_index.json with transformer/,
// text_encoder/ (HF UMT5EncoderModel), tokenizer/ and vae/ (AutoencoderKLWan).
// The tensor renames live with each component (dit/, text_encoder/, vae/
// key_maps); this file knows the folder and the config.json spelling.
#include "pipeline/families/wan21_diffusers.h"

#include <system_error>

#include "dit/wan_model.h"
#include "pipeline/families/families.h"
#include "pipeline/families/wan21_shared.h"
#include "pipeline/model_manifest.h"
#include "soragen/error.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace soragen::pipeline {

bool is_diffusers_dit_config(const json& raw) { return raw.contains("num_attention_heads"); }

// Names from diffusers' WanTransformer3DModel.__init__ arguments.
dit::DitConfig dit_config_from_diffusers(const json& raw, const std::string& where) {
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

namespace {

class Wan21Diffusers final : public ModelFamily {
 public:
  const char* name() const override { return "Wan2.1 diffusers"; }
  std::string recognised_by() const override { return "model_index.json (diffusers layout)"; }

  FamilyMatch detect(const fs::path& dir) const override {
    std::error_code ec;
    if (!fs::is_regular_file(dir / "model_index.json", ec)) return {};
    FamilyMatch match{3, {}};
    match.missing = missing_diffusers_parts(dir);
    return match;
  }

  std::string missing_message(const std::string& given, const std::vector<std::string>& missing) const override {
    return "--model '" + given + "': diffusers layout (model_index.json) is missing " + comma_separated(missing);
  }

  ModelFiles locate(const ModelSource& source) const override {
    const fs::path& dir = source.directory;
    ModelFiles files;
    locate_diffusers_text_encoder(dir, files);
    files.dit = dit::find_dit_weights(dir);
    std::optional<dit::DitConfig> beside;
    const fs::path config = dir / "transformer" / "config.json";
    std::error_code ec;
    if (fs::exists(config, ec)) {
      beside = dit_config_from_diffusers(read_json_config(config), "config '" + config.string() + "'");
    }
    files.dit_config = dit_config_for(files.dit, beside);
    files.vae = first_existing({dir / "vae" / "diffusion_pytorch_model.safetensors"}, "VAE");
    files.vae_config = shipped_vae_config();
    files.defaults = wan_t2v_defaults();
    return files;
  }
};

}  // namespace

const ModelFamily& wan21_diffusers_family() {
  static const Wan21Diffusers family;
  return family;
}

}  // namespace soragen::pipeline
