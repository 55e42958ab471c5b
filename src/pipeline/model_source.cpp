// Resolving --model to a source of weights, before any weight is read.
#include <algorithm>
#include <cstdlib>
#include <string>
#include <system_error>
#include <vector>

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

// Wan2.1's official download: DiT shards at the top, T5 and VAE as .pth, the
// tokenizer in google/umt5-xxl/.
ModelSource official_source(const std::string& given, const fs::path& dir) {
  std::vector<std::string> missing;
  if (!has_official_dit(dir)) missing.push_back("diffusion_pytorch_model*.safetensors");
  if (!file_exists(dir / "models_t5_umt5-xxl-enc-bf16.pth")) missing.push_back("models_t5_umt5-xxl-enc-bf16.pth");
  if (!file_exists(dir / "Wan2.1_VAE.pth")) missing.push_back("Wan2.1_VAE.pth");
  if (!directory_exists(dir / "google" / "umt5-xxl")) missing.push_back("google/umt5-xxl/");
  if (!missing.empty()) {
    throw ModelError("--model '" + given + "': official Wan2.1 layout is missing " + join(missing, ", "));
  }
  return {ModelSource::Kind::wan_official, given, dir};
}

ModelSource diffusers_source(const std::string& given, const fs::path& dir) {
  std::vector<std::string> missing;
  for (const char* sub : {"transformer", "text_encoder", "tokenizer", "vae"}) {
    if (!directory_exists(dir / sub)) missing.push_back(std::string(sub) + "/");
  }
  if (!missing.empty()) {
    throw ModelError("--model '" + given + "': diffusers layout (model_index.json) is missing " + join(missing, ", "));
  }
  return {ModelSource::Kind::wan_diffusers, given, dir};
}

}  // namespace

const char* model_kind_name(ModelSource::Kind kind) {
  switch (kind) {
    case ModelSource::Kind::bundled: return "bundled";
    case ModelSource::Kind::wan_official: return "Wan2.1 official";
    case ModelSource::Kind::wan_diffusers: return "Wan2.1 diffusers";
  }
  return "unknown";
}

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
  const std::string& given = spec.model;
  if (given.empty()) throw UsageError("--model: must not be empty");
  std::error_code ec;
  const fs::path path(given);
  if (fs::exists(path, ec)) {
    if (!directory_exists(path)) {
      throw UsageError("--model '" + given + "': is a file; --model takes a directory of weights or a bundled model name");
    }
    if (file_exists(path / "model_index.json")) return diffusers_source(given, path);
    if (file_exists(path / "model.json")) return {ModelSource::Kind::bundled, given, path};
    if (has_official_dit(path) || file_exists(path / "Wan2.1_VAE.pth")) return official_source(given, path);
    throw ModelError("--model '" + given +
                     "': no weights found; expected model_index.json (diffusers layout) or "
                     "diffusion_pytorch_model*.safetensors with Wan2.1_VAE.pth (official layout)");
  }
  if (given.find('/') != std::string::npos) throw UsageError("--model '" + given + "': no such directory");

  const fs::path bundled = models_directory() / given;
  if (file_exists(bundled / "model.json")) return {ModelSource::Kind::bundled, given, bundled};
  const std::vector<std::string> known = bundled_model_names();
  if (given == "default") {
    throw ModelError("--model default: the embedded default model is not built yet (no " +
                     (bundled / "model.json").string() + "); pass --model DIR with Wan2.1 weights");
  }
  throw UsageError("--model '" + given + "': not a directory and not a bundled model (bundled: " +
                   (known.empty() ? std::string("none yet") : join(known, ", ")) + ")");
}

}  // namespace soragen
