// No folder at all: the four parts given one by one (--tokenizer,
// --text-encoder, --dit, --vae), as users download them, e.g. Comfy-Org's
// wan2.1_t2v_1.3B_fp16.safetensors, umt5_xxl_fp8_e4m3fn_scaled.safetensors
// and wan_2.1_vae.safetensors with a spiece.model. The family contributes the
// Wan2.1 T2V defaults; locate_model_files puts the files and their configs in
// (pipeline/component_files.h), as it does for a part replaced in any family.
#include "pipeline/families/families.h"
#include "pipeline/families/wan21_shared.h"

namespace fs = std::filesystem;

namespace soragen::pipeline {
namespace {

class ComponentFiles final : public ModelFamily {
 public:
  const char* name() const override { return "component files"; }
  std::string recognised_by() const override { return ""; }
  FamilyMatch detect(const fs::path&) const override { return {}; }  // chosen by the flags, never by a folder

  std::string missing_message(const std::string& given, const std::vector<std::string>& missing) const override {
    return "'" + given + "': missing " + comma_separated(missing);
  }

  ModelFiles locate(const ModelSource&) const override {
    ModelFiles files;
    files.defaults = wan_t2v_defaults();
    return files;
  }
};

}  // namespace

const ModelFamily& component_files_family() {
  static const ComponentFiles family;
  return family;
}

}  // namespace soragen::pipeline
