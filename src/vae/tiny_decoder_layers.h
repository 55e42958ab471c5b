// Where each layer of TAEHV's decoder sits in its nn.Sequential: the index
// is the number in the checkpoint's keys (decoder.1.weight,
// decoder.3.conv.0.weight, decoder.7.conv.weight, ...).
//
//   0 Clamp   1 conv(latent, n0)   2 ReLU
//   stage s (s = 0, 1, 2; base 3 + 6s):
//     base+0..2 MemBlock(n_s)   base+3 Upsample   base+4 TGrow(n_s)   base+5 conv(n_s, n_s+1, no bias)
//   21 ReLU   22 conv(n3, 3 * patch^2)
#pragma once

#include <cstddef>
#include <string>

namespace soragen::vae {

inline constexpr std::size_t kTinyStages = 3;
inline constexpr std::size_t kTinyMemBlocksPerStage = 3;
inline constexpr std::size_t kTinyClamp = 0;
inline constexpr std::size_t kTinyFirstConv = 1;
inline constexpr std::size_t kTinyFirstRelu = 2;
inline constexpr std::size_t kTinyLastRelu = 21;
inline constexpr std::size_t kTinyLastConv = 22;
inline constexpr std::size_t kTinyLayers = 23;

constexpr std::size_t tiny_stage_base(std::size_t stage) { return 3 + 6 * stage; }
constexpr std::size_t tiny_stage_upsample(std::size_t stage) { return tiny_stage_base(stage) + 3; }
constexpr std::size_t tiny_stage_tgrow(std::size_t stage) { return tiny_stage_base(stage) + 4; }
constexpr std::size_t tiny_stage_conv(std::size_t stage) { return tiny_stage_base(stage) + 5; }

inline std::string tiny_layer_name(std::size_t index) { return "decoder." + std::to_string(index); }

static_assert(tiny_stage_conv(kTinyStages - 1) + 1 == kTinyLastRelu, "the stages end before the last ReLU");

}  // namespace soragen::vae
