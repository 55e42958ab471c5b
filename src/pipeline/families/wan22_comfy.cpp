// Comfy-Org/Wan_2.2_ComfyUI_Repackaged: one file per part under split_files/
// (diffusion_models/, vae/, text_encoders/), several models side by side. The
// model is the one whose DiT files are present: wan2.2_ti2v_5B_*.safetensors
// (with vae/wan2.2_vae.safetensors), or a high_noise and low_noise pair of
// wan2.2_t2v_*_14B_* or wan2.2_i2v_*_14B_* (with vae/wan_2.1_vae.safetensors).
// Comfy ships no tokenizer: spiece.model in the folder or --tokenizer.
#include <algorithm>
#include <system_error>

#include "pipeline/families/families.h"
#include "pipeline/families/wan21_shared.h"
#include "pipeline/families/wan22_shared.h"
#include "soragen/error.h"

namespace fs = std::filesystem;

namespace soragen::pipeline {
namespace {

struct ComfyModel {
  const char* id;     // Wan22Model::id
  const char* high;   // file name prefix of the DiT, or of the high-noise expert
  const char* low;    // of the low-noise expert; nullptr for one DiT
  const char* vae;
};

// File names as Comfy-Org publishes them; the precision suffix varies
// (fp16, fp8_scaled), so fp16 is preferred and any other taken next.
constexpr ComfyModel kModels[] = {
    {"ti2v-5b", "wan2.2_ti2v_5B_", nullptr, "wan2.2_vae.safetensors"},
    {"t2v-a14b", "wan2.2_t2v_high_noise_14B_", "wan2.2_t2v_low_noise_14B_", "wan_2.1_vae.safetensors"},
    {"i2v-a14b", "wan2.2_i2v_high_noise_14B_", "wan2.2_i2v_low_noise_14B_", "wan_2.1_vae.safetensors"},
};

fs::path root_of(const fs::path& dir) { return dir / "split_files"; }

// The file in `folder` named `prefix`*.safetensors, fp16 first; empty if none.
fs::path find_prefixed(const fs::path& folder, const std::string& prefix) {
  std::vector<fs::path> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && entry.path().extension() == ".safetensors") found.push_back(entry.path());
  }
  std::sort(found.begin(), found.end());
  for (const auto& path : found) {
    if (path.filename().string().find("fp16") != std::string::npos) return path;
  }
  return found.empty() ? fs::path() : found.front();
}

// The models whose DiT files (both experts for A14B) are all present.
std::vector<const ComfyModel*> present_models(const fs::path& dir) {
  std::vector<const ComfyModel*> present;
  const fs::path dits = root_of(dir) / "diffusion_models";
  for (const ComfyModel& model : kModels) {
    if (find_prefixed(dits, model.high).empty()) continue;
    if (model.low && find_prefixed(dits, model.low).empty()) continue;
    present.push_back(&model);
  }
  return present;
}

class Wan22Comfy final : public ModelFamily {
 public:
  const char* name() const override { return "Wan2.2 Comfy-Org"; }
  std::string recognised_by() const override {
    return "split_files/diffusion_models/wan2.2_*.safetensors (Comfy-Org Wan2.2 layout)";
  }

  FamilyMatch detect(const fs::path& dir) const override {
    std::error_code ec;
    const fs::path dits = root_of(dir) / "diffusion_models";
    if (!fs::is_directory(dits, ec) || find_prefixed(dits, "wan2.2_").empty()) return {};
    FamilyMatch match{2, {}};
    const std::vector<const ComfyModel*> present = present_models(dir);
    if (present.empty()) {
      match.missing.push_back("a whole model in split_files/diffusion_models/ (wan2.2_ti2v_5B_*, or both "
                              "wan2.2_t2v_high_noise_14B_* and wan2.2_t2v_low_noise_14B_*, or the i2v pair)");
      return match;
    }
    for (const ComfyModel* model : present) {
      if (!fs::is_regular_file(root_of(dir) / "vae" / model->vae, ec)) {
        match.missing.push_back(std::string("split_files/vae/") + model->vae);
      }
    }
    if (find_prefixed(root_of(dir) / "text_encoders", "umt5_xxl").empty()) {
      match.missing.push_back("split_files/text_encoders/umt5_xxl_*.safetensors");
    }
    return match;
  }

  std::string missing_message(const std::string& given, const std::vector<std::string>& missing) const override {
    return "--model '" + given + "': Comfy-Org Wan2.2 layout is missing " + comma_separated(missing);
  }

  ModelFiles locate(const ModelSource& source) const override {
    const fs::path& dir = source.directory;
    const std::vector<const ComfyModel*> present = present_models(dir);
    if (present.size() != 1) {
      std::string ids;
      for (const ComfyModel* model : present) ids += (ids.empty() ? "" : ", ") + std::string(model->id);
      throw ModelError("--model '" + dir.string() + "': " +
                       (present.empty() ? std::string("no whole Wan2.2 model in split_files/diffusion_models/")
                                        : "holds several Wan2.2 models (" + ids +
                                              "); pass the one to use with --dit (and --low-noise-dit)"));
    }
    const ComfyModel& comfy = *present.front();
    const fs::path dits = root_of(dir) / "diffusion_models";
    ModelFiles files;
    if (source.spec.tokenizer) {
      files.tokenizer = *source.spec.tokenizer;  // replaced by locate_model_files
    } else {
      files.tokenizer = first_existing({dir / "spiece.model", root_of(dir) / "text_encoders" / "spiece.model"},
                                       "tokenizer (Comfy-Org ships none: pass --tokenizer)");
    }
    files.text_encoder = find_prefixed(root_of(dir) / "text_encoders", "umt5_xxl");
    if (files.text_encoder.empty()) {
      throw ModelError("--model '" + dir.string() + "': no split_files/text_encoders/umt5_xxl_*.safetensors");
    }
    files.text_encoder_config = shipped_umt5_config();
    files.dit = find_prefixed(dits, comfy.high);
    const Wan22Model model = wan22_model_of(files.dit, comfy.low != nullptr);
    files.dit_config = wan22_dit_config(model, files.dit, std::nullopt);
    if (comfy.low) {
      files.low_noise_dit = find_prefixed(dits, comfy.low);
      files.low_noise_dit_config = wan22_dit_config(model, files.low_noise_dit, std::nullopt);
    }
    files.vae = first_existing({root_of(dir) / "vae" / comfy.vae}, "VAE");
    if (comfy.low) {
      files.vae_config = shipped_vae_config();
    } else {
      files.vae_config = shipped_vae22_config();
    }
    apply_wan22_defaults(model, files);
    return files;
  }
};

}  // namespace

const ModelFamily& wan22_comfy_family() {
  static const Wan22Comfy family;
  return family;
}

}  // namespace soragen::pipeline
