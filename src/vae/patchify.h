// The Wan2.2 VAE's 2x2 space-to-channel step (vae2_2.py patchify /
// unpatchify; golden README, Wan2.2 trap 1):
//   b c f (h q) (w r) -> b (c r q) f h w
// so channel = c*p*p + r*p + q, with q the ROW (h) offset and r the COLUMN
// (w) offset: the column offset is the middle index, the row offset the
// fastest. Swapping them scrambles every channel of the encoder input.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace soragen::vae {

// [B, C, F, H, W] -> [B, C*p*p, F, H/p, W/p]; H and W must be multiples of p.
at::Tensor patchify(const at::Tensor& x, int64_t patch);
// The exact inverse: [B, C*p*p, F, h, w] -> [B, C, F, h*p, w*p].
at::Tensor unpatchify(const at::Tensor& x, int64_t patch);

}  // namespace soragen::vae
