#include "taehv.h"

#include <stdexcept>
#include <string>

#include "clips.h"
#include "configs.h"
#include "vae/vae_config.h"

namespace soragen::train {
namespace {

// log2 of a power of two up to 2^3 (three stages), or an error naming it.
size_t stages_for(int64_t factor, const char* what) {
  for (size_t stages = 0; stages <= 3; ++stages) {
    if (int64_t{1} << stages == factor) return stages;
  }
  throw std::runtime_error(std::string("the default VAE's ") + what + " factor " + std::to_string(factor) +
                           " is not 1, 2, 4 or 8: no tiny decoder of three stages makes it");
}

}  // namespace

vae::TinyDecoderConfig taehv_config() {
  const vae::VaeConfig vae =
      vae::VaeConfig::from_json(nlohmann::json::parse(vae_config().dump()), "training VAE config");
  vae::TinyDecoderConfig config;
  config.latent_channels = vae.z_dim;
  // Enough for 64x64 clips of one shape on a background, and cheap: 17
  // frames decode about 12-15x faster than with the default's VAE on one
  // CPU thread (bench_vae --tiny-widths 64,32,16,16).
  config.widths = {64, 32, 16, 16};
  config.patch_size = 1;
  const size_t space = stages_for(vae.spatial_factor(), "spatial");
  const size_t time = stages_for(vae.temporal_factor(), "temporal");
  for (size_t stage = 0; stage < 3; ++stage) {
    config.space_upscale[stage] = stage >= 3 - space;
    config.time_upscale[stage] = stage >= 3 - time;
  }
  config.validate("the default's tiny decoder config");
  return config;
}

std::vector<world::Scene> latents_stage_scenes(std::uint64_t seed, const at::Tensor& rows) {
  // encode_latents draws its clips' scenes one after another from this
  // stream (render_batch, chunk by chunk).
  std::mt19937_64 rng = step_rng(seed, int64_t{1} << 40);
  std::vector<world::Scene> scenes;
  for (int64_t i = 0; i < rows.size(0); ++i) {
    scenes.push_back(world::random_scene(rng, world::Split::train));
    if (scene_row(scenes.back()) != scene_row(scene_from_row(rows[i]))) {
      throw std::runtime_error("latents.safetensors: clip " + std::to_string(i) + " is not the scene --seed " +
                               std::to_string(seed) + " draws; give the seed the latents stage ran with");
    }
  }
  return scenes;
}

}  // namespace soragen::train
