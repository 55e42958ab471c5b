#include "pipeline/families/wan21_shared.h"

#include "io/tensor_source.h"
#include "soragen/error.h"
#include "soragen/pipeline.h"

namespace fs = std::filesystem;

namespace soragen::pipeline {

int64_t dit_width(const io::TensorSource& source, const fs::path& weights) {
  for (const char* name : {"patch_embedding.weight", "model.diffusion_model.patch_embedding.weight"}) {
    if (source.contains(name)) return source.info(name).shape.at(0);
  }
  throw ModelError("transformer '" + weights.string() + "': no patch_embedding.weight tensor");
}

dit::DitConfig shipped_dit_config(int64_t width, const fs::path& weights) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(models_directory() / "configs", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("wan2.1-t2v-", 0) != 0) continue;
    dit::DitConfig config = dit::DitConfig::from_file(entry.path());
    if (config.dim == width) return config;
  }
  throw ModelError("transformer '" + weights.string() + "': width " + std::to_string(width) +
                   " matches no known Wan2.1 T2V model (1.3B: 1536, 14B: 5120)");
}

text_encoder::UMT5Config shipped_umt5_config() {
  return text_encoder::UMT5Config::from_file(models_directory() / "configs" / "umt5-xxl.json");
}

vae::VaeConfig shipped_vae_config() {
  return vae::VaeConfig::from_file(models_directory() / "configs" / "wan2.1-vae.json");
}

dit::DitConfig dit_config_for(const fs::path& weights, const std::optional<dit::DitConfig>& beside) {
  return dit_config_for(*io::open_weights(weights), weights, beside);
}

dit::DitConfig dit_config_for(const io::TensorSource& source, const fs::path& weights,
                              const std::optional<dit::DitConfig>& beside) {
  const int64_t width = dit_width(source, weights);
  if (!beside) return shipped_dit_config(width, weights);
  if (beside->dim != width) {
    throw ModelError("transformer '" + weights.string() + "': width " + std::to_string(width) +
                     " disagrees with its config.json (dim " + std::to_string(beside->dim) + ")");
  }
  return *beside;
}

std::string comma_separated(const std::vector<std::string>& items) {
  std::string list;
  for (const auto& item : items) list += (list.empty() ? "" : ", ") + item;
  return list;
}

void add_missing_official_text_encoder(const fs::path& dir, std::vector<std::string>& missing) {
  std::error_code ec;
  if (!fs::is_regular_file(dir / kOfficialTextEncoder, ec)) missing.push_back(kOfficialTextEncoder);
  if (!fs::is_directory(dir / kOfficialTokenizerDir, ec)) missing.push_back(std::string(kOfficialTokenizerDir) + "/");
}

void locate_official_text_encoder(const fs::path& dir, ModelFiles& files) {
  files.tokenizer = first_existing({dir / kOfficialTokenizerDir / "spiece.model"}, "tokenizer");
  files.text_encoder = first_existing({dir / kOfficialTextEncoder}, "text encoder");
  files.text_encoder_config = shipped_umt5_config();
}

std::vector<std::string> missing_diffusers_parts(const fs::path& dir) {
  std::vector<std::string> missing;
  std::error_code ec;
  for (const char* sub : {"transformer", "text_encoder", "tokenizer", "vae"}) {
    if (!fs::is_directory(dir / sub, ec)) missing.push_back(std::string(sub) + "/");
  }
  return missing;
}

void locate_diffusers_text_encoder(const fs::path& dir, ModelFiles& files) {
  files.tokenizer = first_existing({dir / "tokenizer" / "spiece.model"}, "tokenizer");
  files.text_encoder = first_existing(
      {dir / "text_encoder" / "model.safetensors.index.json", dir / "text_encoder" / "model.safetensors"},
      "text encoder");
  files.text_encoder_config = shipped_umt5_config();
}

fs::path first_existing(const std::vector<fs::path>& candidates, const std::string& what) {
  std::error_code ec;
  std::string tried;
  for (const auto& path : candidates) {
    if (fs::exists(path, ec)) return path;
    tried += (tried.empty() ? "" : ", ") + path.string();
  }
  throw ModelError(what + ": none of " + tried + " exists");
}

}  // namespace soragen::pipeline
