// Resolving --model (and the component flags) to a source of weights,
// before any weight is read: the registered families decide (model_family.h).
#include <algorithm>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "pipeline/families/families.h"
#include "pipeline/model_family.h"
#include "soragen/error.h"
#include "soragen/pipeline.h"

namespace fs = std::filesystem;

namespace soragen {
namespace {

bool file_exists(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

bool directory_exists(const fs::path& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

std::string join(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

// Each component flag must name something that exists; what it holds is
// checked when the files are located.
void check_component_paths(const ModelSpec& spec) {
  const std::pair<const char*, const std::optional<fs::path>*> flags[] = {
      {"--tokenizer", &spec.tokenizer},
      {"--text-encoder", &spec.text_encoder},
      {"--dit", &spec.dit},
      {"--low-noise-dit", &spec.low_noise_dit},
      {"--vae", &spec.vae}};
  for (const auto& [flag, path] : flags) {
    std::error_code ec;
    if (*path && !fs::exists(**path, ec)) {
      throw ModelError(std::string(flag) + " '" + (*path)->string() + "': no such file or directory");
    }
  }
}

ModelSource resolve_model_folder(const ModelSpec& spec);

}  // namespace

std::vector<std::string> bundled_model_names() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(models_directory(), ec)) {
    if (file_exists(entry.path() / "model.json")) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

ModelSource resolve_model(const ModelSpec& spec) {
  check_component_paths(spec);
  if (spec.all_components_given()) {
    const pipeline::ModelFamily& family = pipeline::component_files_family();
    return {family.name(), spec.dit->filename().string(), spec.dit->parent_path(), spec};
  }
  ModelSource source = resolve_model_folder(spec);
  source.spec = spec;
  return source;
}

namespace {

ModelSource resolve_model_folder(const ModelSpec& spec) {
  const std::string& given = spec.model;
  if (given.empty()) throw UsageError("--model: must not be empty");
  std::error_code ec;
  const fs::path path(given);
  if (fs::exists(path, ec)) {
    if (!directory_exists(path)) {
      throw UsageError("--model '" + given + "': is a file; --model takes a directory of weights or a bundled model name");
    }
    const auto [family, match] = pipeline::detect_model_family(path);
    if (family && !match.missing.empty()) throw ModelError(family->missing_message(given, match.missing));
    if (family) return {family->name(), given, path, spec};
    std::vector<std::string> expected;
    for (const pipeline::ModelFamily* known : pipeline::model_families()) {
      if (!known->recognised_by().empty()) expected.push_back(known->recognised_by());
    }
    throw ModelError("--model '" + given + "': no weights found; expected " + join(expected, " or "));
  }
  if (given.find('/') != std::string::npos) throw UsageError("--model '" + given + "': no such directory");

  const fs::path bundled = models_directory() / given;
  if (file_exists(bundled / "model.json")) return {pipeline::bundled_family().name(), given, bundled, spec};
  const std::vector<std::string> known = bundled_model_names();
  if (given == "default") {
    throw ModelError("--model default: the embedded default model is not built yet (no " +
                     (bundled / "model.json").string() + "); pass --model DIR with Wan2.1 weights");
  }
  throw UsageError("--model '" + given + "': not a directory and not a bundled model (bundled: " +
                   (known.empty() ? std::string("none yet") : join(known, ", ")) + ")");
}

}  // namespace

}  // namespace soragen
