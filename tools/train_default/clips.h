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

// A scene's attributes as the row stored beside its latents (latents.safetensors
// "scenes": colour, shape, size, direction, background, gradient) and back.
constexpr int64_t kSceneRowLength = 6;
std::vector<int64_t> scene_row(const world::Scene& scene);
world::Scene scene_from_row(const at::Tensor& row);

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
