// Synthetic TAEHV checkpoints with the public files' key names and shapes
// (taew2_1, taew2_2: taehv.py's encoder and decoder nn.Sequential indices),
// seeded random values: the real weights are not in the repository.
#pragma once

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>

namespace soragen::vae::test {

struct TaehvShape {
  int64_t latent_channels = 16;                   // taew2_1: 16, taew2_2: 48
  std::array<int64_t, 4> widths{256, 128, 64, 64};
  int64_t patch = 1;                              // taew2_1: 1, taew2_2: 2
  // Stage 0's TGrow conv as trained with time upscaling there: twice the
  // rows a Wan config (no time upscale in stage 0) reads.
  bool doubled_first_tgrow = true;
  bool encoder = true;                            // the encoder.* tensors the public files hold
  at::ScalarType dtype = at::kHalf;
  std::uint64_t seed = 1;
};

inline std::map<std::string, at::Tensor> taehv_tensors(const TaehvShape& shape) {
  at::Generator generator = at::detail::createCPUGenerator(shape.seed);
  std::map<std::string, at::Tensor> out;
  const auto conv = [&](const std::string& name, int64_t in, int64_t out_channels, int64_t kernel, bool bias) {
    const double scale = 1.0 / std::sqrt(static_cast<double>(in * kernel * kernel));
    out[name + ".weight"] = (at::randn({out_channels, in, kernel, kernel}, generator) * scale).to(shape.dtype);
    if (bias) out[name + ".bias"] = (at::randn({out_channels}, generator) * 0.1).to(shape.dtype);
  };
  const auto mem_block = [&](const std::string& name, int64_t width) {
    conv(name + ".conv.0", 2 * width, width, 3, true);
    conv(name + ".conv.2", width, width, 3, true);
    conv(name + ".conv.4", width, width, 3, true);
  };
  const auto& n = shape.widths;
  conv("decoder.1", shape.latent_channels, n[0], 3, true);
  for (int stage = 0; stage < 3; ++stage) {
    const int base = 3 + 6 * stage;
    for (int block = 0; block < 3; ++block) mem_block("decoder." + std::to_string(base + block), n[stage]);
    const int64_t rows = n[stage] * (stage == 0 && !shape.doubled_first_tgrow ? 1 : 2);
    conv("decoder." + std::to_string(base + 4) + ".conv", n[stage], rows, 1, false);
    conv("decoder." + std::to_string(base + 5), n[stage], n[stage + 1], 3, false);
  }
  conv("decoder.22", n[3], 3 * shape.patch * shape.patch, 3, true);
  if (shape.encoder) {
    // taehv.py's encoder: conv, ReLU, then per stage TPool, strided conv, 3 MemBlocks; a last conv.
    conv("encoder.0", 3 * shape.patch * shape.patch, 64, 3, true);
    for (int stage = 0; stage < 3; ++stage) {
      const int base = 2 + 5 * stage;
      conv("encoder." + std::to_string(base) + ".conv", 64 * (stage < 2 ? 2 : 1), 64, 1, false);
      conv("encoder." + std::to_string(base + 1), 64, 64, 3, false);
      for (int block = 0; block < 3; ++block) mem_block("encoder." + std::to_string(base + 2 + block), 64);
    }
    conv("encoder.17", 64, shape.latent_channels, 3, true);
  }
  return out;
}

}  // namespace soragen::vae::test
