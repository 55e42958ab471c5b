// Training data from the procedural world: scenes rendered to tensors.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <random>
#include <vector>

#include "scene.h"
#include "soragen/video.h"

namespace soragen::train {

// A batch of `count` random training scenes (held-out triples excluded),
// rendered at kSize: [count, 3, frames, kSize, kSize].
at::Tensor render_batch(std::mt19937_64& rng, int count, int frames, std::vector<world::Scene>* scenes = nullptr);
// The given scenes rendered at kSize: [scenes, 3, frames, kSize, kSize].
at::Tensor render_scenes(const std::vector<world::Scene>& scenes, int frames);

// Where the object is: 1 for pixels far from their row's background (read in
// column 0, which the object never reaches), else 0. clips: [B, 3, F, H, W]
// in [-1, 1]; returns [B, 1, F, H, W] float.
at::Tensor object_mask(const at::Tensor& clips);

// object_mask pooled onto the VAE's latent grid: a latent pixel counts as
// object when any pixel it encodes does. The Wan VAE encodes frame 0 alone,
// then (F - 1) / (f - 1) frames per latent frame and (H / h) x (W / w) pixels
// per latent pixel; the factors come from `latents` ([B, z, f, h, w]), so the
// mask follows whatever compression the VAE config has.
// [B, 1, F, H, W] -> [B, 1, f, h, w].
at::Tensor latent_object_mask(const at::Tensor& pixel_mask, const at::Tensor& latents);

// A scene's attributes as the row stored beside its latents (latents.safetensors
// "scenes": colour, shape, size, direction, background, gradient) and back.
constexpr int64_t kSceneRowLength = 6;
std::vector<int64_t> scene_row(const world::Scene& scene);
world::Scene scene_from_row(const at::Tensor& row);
// One scene_row per scene: [scenes, kSceneRowLength] int64.
at::Tensor scene_rows(const std::vector<world::Scene>& scenes);

// A generator whose stream depends only on (seed, step): a resumed run draws
// exactly what the uninterrupted run would have drawn.
std::mt19937_64 step_rng(std::uint64_t seed, int64_t step);
at::Generator step_generator(std::uint64_t seed, int64_t step);

// Initial weights for training: norm scales 1, biases 0, matrices normal with
// std 1/sqrt(fan_in), modulation tables 0.02; tensors whose name contains one
// of `zero_names` start at zero (the DiT's output head, so it begins by
// predicting nothing). Parameters are switched to requires_grad.
void init_for_training(torch::nn::Module& module, at::Generator& generator,
                       const std::vector<std::string>& zero_names = {});

}  // namespace soragen::train
