// soragen's own layout: a folder with a model.json that names its files and
// holds its configs and generation defaults (models/default/).
#include "pipeline/families/families.h"
#include "pipeline/model_manifest.h"

#include <system_error>

namespace fs = std::filesystem;

namespace soragen::pipeline {
namespace {

class Bundled final : public ModelFamily {
 public:
  const char* name() const override { return "bundled"; }
  std::string recognised_by() const override { return "model.json (bundled layout)"; }

  FamilyMatch detect(const fs::path& dir) const override {
    std::error_code ec;
    return {fs::is_regular_file(dir / "model.json", ec) ? 2 : 0, {}};
  }

  std::string missing_message(const std::string& given, const std::vector<std::string>& missing) const override {
    return "--model '" + given + "': bundled layout is missing " + (missing.empty() ? "" : missing.front());
  }

  ModelFiles locate(const ModelSource& source) const override {
    const fs::path manifest = source.directory / "model.json";
    return manifest_files(read_json_config(manifest), source.directory, manifest, /*check_files=*/true);
  }
};

}  // namespace

const ModelFamily& bundled_family() {
  static const Bundled family;
  return family;
}

}  // namespace soragen::pipeline
