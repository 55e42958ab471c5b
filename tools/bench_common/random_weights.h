// Seeded random weights for the benchmarks: every parameter of a module is
// overwritten in place, on whatever device it already lives, so a 14B model
// on a GPU is filled by the GPU in seconds instead of drawn on the host.
#pragma once

#include <torch/nn/module.h>

#include <cstdint>

namespace soragen::bench {

// The soragen-make-model recipe: norm scales one, other vectors zero,
// modulation tables N(0, 0.02^2), matrices N(0, 1/fan_in), so activations
// keep realistic magnitudes through every block. Values depend on the seed
// and the device's generator (CPU and CUDA draw different numbers).
void fill_random_weights(const torch::nn::Module& module, std::uint64_t seed);

}  // namespace soragen::bench
