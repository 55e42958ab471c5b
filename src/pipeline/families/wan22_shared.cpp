#include "pipeline/families/wan22_shared.h"

#include "io/tensor_source.h"
#include "pipeline/model_manifest.h"
#include "soragen/error.h"
#include "soragen/pipeline.h"

namespace fs = std::filesystem;

namespace soragen::pipeline {
namespace {

// patch_embedding.weight as official, diffusers and Comfy-Org files name it
// (Comfy's full checkpoints put model.diffusion_model. before it).
std::vector<int64_t> patch_embedding_shape(const fs::path& weights) {
  const auto source = io::open_weights(weights);
  for (const char* name : {"patch_embedding.weight", "model.diffusion_model.patch_embedding.weight"}) {
    if (source->contains(name)) return source->info(name).shape;
  }
  throw ModelError("transformer '" + weights.string() + "': no patch_embedding weight tensor");
}

}  // namespace

fs::path Wan22Model::dit_config() const { return models_directory() / "configs" / ("wan2.2-" + id + ".json"); }
fs::path Wan22Model::defaults() const {
  return models_directory() / "configs" / ("wan2.2-" + id + ".defaults.json");
}

Wan22Model wan22_model_of(const fs::path& weights, bool two_experts) {
  const std::vector<int64_t> shape = patch_embedding_shape(weights);
  const int64_t in_dim = shape.size() >= 2 ? shape[1] : 0;
  const std::string where = "transformer '" + weights.string() + "': in_dim " + std::to_string(in_dim);
  if (in_dim == 48) {
    if (two_experts) throw ModelError(where + " is TI2V-5B, which has one DiT, yet a low-noise expert came with it");
    return {"ti2v-5b", false};
  }
  if (in_dim == 16 || in_dim == 36) {
    if (!two_experts) {
      throw ModelError(where + " is a Wan2.2 A14B expert, which needs its low-noise expert beside it");
    }
    return {in_dim == 16 ? "t2v-a14b" : "i2v-a14b", true};
  }
  throw ModelError(where + " matches no Wan2.2 model (TI2V-5B: 48, T2V-A14B: 16, I2V-A14B: 36)");
}

dit::DitConfig wan22_dit_config(const Wan22Model& model, const fs::path& weights,
                                std::optional<dit::DitConfig> beside) {
  const dit::DitConfig shipped = dit::DitConfig::from_file(model.dit_config());
  dit::DitConfig config = beside ? *beside : shipped;
  config.model_type = shipped.model_type;
  const std::vector<int64_t> shape = patch_embedding_shape(weights);
  if (shape.size() < 2 || shape[0] != config.dim || shape[1] != config.in_dim) {
    throw ModelError("transformer '" + weights.string() + "': patch_embedding [" +
                     std::to_string(shape.empty() ? 0 : shape[0]) + ", " +
                     std::to_string(shape.size() < 2 ? 0 : shape[1]) + "] disagrees with its config (dim " +
                     std::to_string(config.dim) + ", in_dim " + std::to_string(config.in_dim) + ")");
  }
  return config;
}

void apply_wan22_defaults(const Wan22Model& model, ModelFiles& files) {
  const ShippedDefaults shipped = read_model_defaults(model.defaults());
  if (model.two_experts && shipped.boundary <= 0) {
    throw ModelError("model file '" + model.defaults().string() + "': a two-expert model needs a \"boundary\"");
  }
  files.defaults = shipped.defaults;
  files.boundary = shipped.boundary;
}

vae::Vae22Config shipped_vae22_config() {
  return vae::Vae22Config::from_file(models_directory() / "configs" / "wan2.2-vae.json");
}

}  // namespace soragen::pipeline
