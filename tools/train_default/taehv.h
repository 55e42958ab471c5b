// The embedded default's tiny preview decoder (TAEHV design,
// vae/tiny_decoder.h): its config and its training stage.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "scene.h"
#include "train.h"
#include "vae/tiny_decoder_config.h"

namespace soragen::train {

// Narrower than the public taew2_1, and fitted to whatever the default's VAE
// is (configs.h vae_config()): its latent channels, as many 2x space
// upscales as its spatial factor needs and 2x time upscales as its temporal
// factor, on the last stages (the first runs at the latent's size, where it
// is cheapest).
vae::TinyDecoderConfig taehv_config();

// The clips the latents stage encoded, drawn again from its seed (the rows
// stored beside the latents hold a scene's attributes, not where its object
// starts and how far it travels). Throws when a drawn scene's attributes are
// not the stored row's: the latents stage ran with another seed.
std::vector<world::Scene> latents_stage_scenes(std::uint64_t seed, const at::Tensor& rows);

// Stage 5: the tiny decoder learns to turn the latents stage's latents
// (normalised, as the DiT makes them) into the clips they encode: pixel MSE
// in [0, 1], object pixels weighing 1 + object_weight (as in the VAE stage).
// Writes taehv.safetensors, its moving average taehv_ema.safetensors (what
// export ships) and the optimizer's state; resumable.
void train_taehv(const StageOptions& options, double object_weight);

}  // namespace soragen::train
