// Wan-AI/Wan2.2-*-Diffusers: model_index.json with transformer/ and, for the
// A14B models, transformer_2/. diffusers' WanPipeline runs `transformer` while
// t >= boundary_ratio * 1000 (the high-noise expert) and `transformer_2`
// below it; model_index.json holds boundary_ratio. The A14B vae/ is the
// Wan2.1 AutoencoderKLWan; TI2V-5B's is the Wan2.2 one (z_dim 48,
// is_residual), renamed by vae::vae22_key_map.
#include <system_error>

#include "dit/wan_model.h"
#include "pipeline/families/families.h"
#include "pipeline/families/wan21_diffusers.h"
#include "pipeline/families/wan21_shared.h"
#include "pipeline/families/wan22_shared.h"
#include "pipeline/model_manifest.h"
#include "soragen/error.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace soragen::pipeline {
namespace {

// For detection only: a missing or broken config says nothing (the family
// that claims the folder reports it when it locates the files).
json config_or_empty(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return json::object();
  try {
    return read_json_config(path);
  } catch (const ModelError&) {
    return json::object();
  }
}

int64_t int_or(const json& object, const char* key, int64_t fallback) {
  const auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<int64_t>() : fallback;
}

// A diffusers folder is Wan2.2 when it has a second transformer, or its
// transformer or VAE config says so (in_channels 48 or 36; z_dim 48).
bool is_wan22(const fs::path& dir) {
  std::error_code ec;
  if (fs::is_directory(dir / "transformer_2", ec)) return true;
  const json transformer = config_or_empty(dir / "transformer" / "config.json");
  const int64_t in_channels = int_or(transformer, "in_channels", 16);
  if (in_channels == 48 || in_channels == 36) return true;
  return int_or(config_or_empty(dir / "vae" / "config.json"), "z_dim", 16) == 48;
}

std::optional<dit::DitConfig> diffusers_config(const fs::path& dir) {
  std::error_code ec;
  const fs::path path = dir / "config.json";
  if (!fs::exists(path, ec)) return std::nullopt;
  return dit_config_from_diffusers(read_json_config(path), "config '" + path.string() + "'");
}

class Wan22Diffusers final : public ModelFamily {
 public:
  const char* name() const override { return "Wan2.2 diffusers"; }
  std::string recognised_by() const override {
    return "model_index.json with transformer_2/ or a Wan2.2 transformer or VAE config (diffusers Wan2.2 layout)";
  }

  // Above Wan2.1 diffusers (3), which claims every model_index.json.
  FamilyMatch detect(const fs::path& dir) const override {
    std::error_code ec;
    if (!fs::is_regular_file(dir / "model_index.json", ec) || !is_wan22(dir)) return {};
    FamilyMatch match{4, {}};
    match.missing = missing_diffusers_parts(dir);
    return match;
  }

  std::string missing_message(const std::string& given, const std::vector<std::string>& missing) const override {
    return "--model '" + given + "': diffusers Wan2.2 layout (model_index.json) is missing " + comma_separated(missing);
  }

  ModelFiles locate(const ModelSource& source) const override {
    const fs::path& dir = source.directory;
    ModelFiles files;
    locate_diffusers_text_encoder(dir, files);
    std::error_code ec;
    const bool two = fs::is_directory(dir / "transformer_2", ec);
    files.dit = dit::find_dit_weights(dir / "transformer");
    const Wan22Model model = wan22_model_of(files.dit, two);
    files.dit_config = wan22_dit_config(model, files.dit, diffusers_config(dir / "transformer"));
    if (two) {
      files.low_noise_dit = dit::find_dit_weights(dir / "transformer_2");
      files.low_noise_dit_config =
          wan22_dit_config(model, files.low_noise_dit, diffusers_config(dir / "transformer_2"));
    }
    files.vae = first_existing({dir / "vae" / "diffusion_pytorch_model.safetensors"}, "VAE");
    files.vae_config = model.two_experts ? AnyVaeConfig{shipped_vae_config()}
                                         : AnyVaeConfig{shipped_vae22_config()};
    apply_wan22_defaults(model, files);
    // The folder's own switch point wins over the shipped one.
    const json index = read_json_config(dir / "model_index.json");
    if (two && index.contains("boundary_ratio") && !index.at("boundary_ratio").is_null()) {
      const json& ratio = index.at("boundary_ratio");
      if (!ratio.is_number() || ratio.get<double>() <= 0 || ratio.get<double>() >= 1) {
        throw ModelError("model file '" + (dir / "model_index.json").string() +
                         "': \"boundary_ratio\" must be a number between 0 and 1");
      }
      files.boundary = ratio.get<double>();
    }
    return files;
  }
};

}  // namespace

const ModelFamily& wan22_diffusers_family() {
  static const Wan22Diffusers family;
  return family;
}

}  // namespace soragen::pipeline
