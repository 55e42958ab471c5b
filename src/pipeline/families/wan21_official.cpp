// Wan-AI/Wan2.1-T2V-*: DiT shards at the top (diffusion_pytorch_model*
// .safetensors, WanModel names, config.json in WanModel names), the umT5
// encoder and the VAE as .pth, the tokenizer in google/umt5-xxl/.
#include "pipeline/families/families.h"
#include "pipeline/families/wan21_shared.h"
#include "pipeline/model_manifest.h"

#include <system_error>

#include "dit/wan_model.h"

namespace fs = std::filesystem;

namespace soragen::pipeline {
namespace {

constexpr const char* kVae = "Wan2.1_VAE.pth";

bool has_official_dit(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("diffusion_pytorch_model", 0) == 0 &&
        (name.size() >= 12 && (name.compare(name.size() - 12, 12, ".safetensors") == 0 ||
                               name.find(".safetensors.index.json") != std::string::npos))) {
      return true;
    }
  }
  return false;
}

class Wan21Official final : public ModelFamily {
 public:
  const char* name() const override { return "Wan2.1 official"; }
  std::string recognised_by() const override {
    return "diffusion_pytorch_model*.safetensors with Wan2.1_VAE.pth (official layout)";
  }

  FamilyMatch detect(const fs::path& dir) const override {
    std::error_code ec;
    const bool dit = has_official_dit(dir);
    const bool vae = fs::is_regular_file(dir / kVae, ec);
    if (!dit && !vae) return {};
    FamilyMatch match{1, {}};
    if (!dit) match.missing.push_back("diffusion_pytorch_model*.safetensors");
    if (!vae) match.missing.push_back(kVae);
    add_missing_official_text_encoder(dir, match.missing);
    return match;
  }

  std::string missing_message(const std::string& given, const std::vector<std::string>& missing) const override {
    return "--model '" + given + "': official Wan2.1 layout is missing " + comma_separated(missing);
  }

  ModelFiles locate(const ModelSource& source) const override {
    const fs::path& dir = source.directory;
    ModelFiles files;
    locate_official_text_encoder(dir, files);
    files.dit = dit::find_dit_weights(dir);
    std::optional<dit::DitConfig> beside;
    std::error_code ec;
    if (fs::exists(dir / "config.json", ec)) {
      const fs::path path = dir / "config.json";
      beside = dit::DitConfig::from_json(read_json_config(path), "config '" + path.string() + "'");
    }
    files.dit_config = dit_config_for(files.dit, beside);
    files.vae = first_existing({dir / kVae}, "VAE");
    files.vae_config = shipped_vae_config();
    files.defaults = wan_t2v_defaults();
    return files;
  }
};

}  // namespace

const ModelFamily& wan21_official_family() {
  static const Wan21Official family;
  return family;
}

}  // namespace soragen::pipeline
