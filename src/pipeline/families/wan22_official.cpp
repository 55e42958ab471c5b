// Wan-AI/Wan2.2-*: the official downloads (wan/configs/wan_*.py checkpoint
// names). TI2V-5B keeps its DiT shards and config.json at the top with
// Wan2.2_VAE.pth; T2V-A14B and I2V-A14B keep one DiT per expert in
// high_noise_model/ and low_noise_model/ (each with its config.json) with
// Wan2.1_VAE.pth. All share the umT5 .pth and google/umt5-xxl/.
#include "pipeline/families/families.h"
#include "pipeline/families/wan21_shared.h"
#include "pipeline/families/wan22_shared.h"
#include "pipeline/model_manifest.h"

#include <system_error>

#include "dit/wan_model.h"

namespace fs = std::filesystem;

namespace soragen::pipeline {
namespace {

constexpr const char* kVae22 = "Wan2.2_VAE.pth";
constexpr const char* kVae21 = "Wan2.1_VAE.pth";
constexpr const char* kHigh = "high_noise_model";
constexpr const char* kLow = "low_noise_model";

bool has_dit(const fs::path& dir) {
  std::error_code ec;
  for (const char* name : {"diffusion_pytorch_model.safetensors.index.json", "diffusion_pytorch_model.safetensors"}) {
    if (fs::is_regular_file(dir / name, ec)) return true;
  }
  return false;
}

bool is_a14b(const fs::path& dir) {
  std::error_code ec;
  return fs::is_directory(dir / kHigh, ec) || fs::is_directory(dir / kLow, ec);
}

// The DiT in `dir` with the config.json beside it, when there is one.
std::optional<dit::DitConfig> config_beside(const fs::path& dir) {
  std::error_code ec;
  const fs::path path = dir / "config.json";
  if (!fs::exists(path, ec)) return std::nullopt;
  return dit::DitConfig::from_json(read_json_config(path), "config '" + path.string() + "'");
}

class Wan22Official final : public ModelFamily {
 public:
  const char* name() const override { return "Wan2.2 official"; }
  std::string recognised_by() const override {
    return "Wan2.2_VAE.pth or high_noise_model/ and low_noise_model/ (official Wan2.2 layout)";
  }

  // Above Wan2.1 official (1): a TI2V-5B folder holds its DiT shards too.
  FamilyMatch detect(const fs::path& dir) const override {
    std::error_code ec;
    FamilyMatch match{2, {}};
    if (is_a14b(dir)) {
      for (const char* sub : {kHigh, kLow}) {
        if (!has_dit(dir / sub)) match.missing.push_back(std::string(sub) + "/diffusion_pytorch_model*.safetensors");
      }
      if (!fs::is_regular_file(dir / kVae21, ec)) match.missing.push_back(kVae21);
    } else if (fs::is_regular_file(dir / kVae22, ec)) {
      if (!has_dit(dir)) match.missing.push_back("diffusion_pytorch_model*.safetensors");
    } else {
      return {};
    }
    add_missing_official_text_encoder(dir, match.missing);
    return match;
  }

  std::string missing_message(const std::string& given, const std::vector<std::string>& missing) const override {
    return "--model '" + given + "': official Wan2.2 layout is missing " + comma_separated(missing);
  }

  ModelFiles locate(const ModelSource& source) const override {
    const fs::path& dir = source.directory;
    ModelFiles files;
    locate_official_text_encoder(dir, files);
    const bool two = is_a14b(dir);
    const fs::path high_dir = two ? dir / kHigh : dir;
    files.dit = dit::find_dit_weights(high_dir);
    const Wan22Model model = wan22_model_of(files.dit, two);
    files.dit_config = wan22_dit_config(model, files.dit, config_beside(high_dir));
    if (two) {
      files.low_noise_dit = dit::find_dit_weights(dir / kLow);
      files.low_noise_dit_config = wan22_dit_config(model, files.low_noise_dit, config_beside(dir / kLow));
      files.vae = first_existing({dir / kVae21}, "VAE");
      files.vae_config = shipped_vae_config();
    } else {
      files.vae = first_existing({dir / kVae22}, "VAE");
      files.vae_config = shipped_vae22_config();
    }
    apply_wan22_defaults(model, files);
    return files;
  }
};

}  // namespace

const ModelFamily& wan22_official_family() {
  static const Wan22Official family;
  return family;
}

}  // namespace soragen::pipeline
