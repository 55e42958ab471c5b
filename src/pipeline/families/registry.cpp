// The one list of model families. Register a new family here.
#include <algorithm>

#include "pipeline/families/families.h"
#include "soragen/error.h"

namespace soragen::pipeline {

const std::vector<const ModelFamily*>& model_families() {
  static const std::vector<const ModelFamily*> families = {
      &wan21_diffusers_family(),
      &wan22_diffusers_family(),
      &bundled_family(),
      &wan21_official_family(),
      &wan22_official_family(),
      &wan22_comfy_family(),
      &component_files_family(),
  };
  return families;
}

const ModelFamily& model_family(const std::string& name) {
  for (const ModelFamily* family : model_families()) {
    if (name == family->name()) return *family;
  }
  throw InternalError("model family '" + name + "' is not registered");
}

std::pair<const ModelFamily*, FamilyMatch> detect_model_family(const std::filesystem::path& dir) {
  std::pair<const ModelFamily*, FamilyMatch> best{nullptr, {}};
  for (const ModelFamily* family : model_families()) {
    FamilyMatch match = family->detect(dir);
    // Ties go to the family registered first.
    if (match.confidence > best.second.confidence) best = {family, std::move(match)};
  }
  return best;
}

}  // namespace soragen::pipeline
