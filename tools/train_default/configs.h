// The architecture numbers of the trained embedded default: the same classes
// as Wan2.1 (umT5 encoder, Wan DiT, Wan VAE) with small configs, sized so that
// training fits a few CPU hours and a 17-frame 64x64 render takes seconds.
#pragma once

#include <nlohmann/json.hpp>

namespace soragen::train {

constexpr int kFrames = 17;  // clip length the DiT is trained on (5 latent frames)
constexpr int kSize = 64;    // width = height
constexpr int kTextLen = 32;
constexpr double kShift = 3.0;  // timestep shift of training and of the shipped defaults

nlohmann::ordered_json text_encoder_config(int vocab);
nlohmann::ordered_json dit_config();
// latents_mean/std are filled in after the VAE is trained (all 0 / 1 before).
nlohmann::ordered_json vae_config();

}  // namespace soragen::train
