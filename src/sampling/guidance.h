// Classifier-free guidance as wan/text2video.py applies it between two
// separate model calls (golden README trap 27).
#pragma once

#include <ATen/core/Tensor.h>

namespace soragen::sampling {

// uncond + scale * (cond - uncond), elementwise in the inputs' dtype, in the
// reference's operation order. scale 1 gives cond, 0 gives uncond.
at::Tensor classifier_free_guidance(const at::Tensor& cond, const at::Tensor& uncond, double scale);

// CFG-Zero* (Fan, Zheng, Yeh, Liu, "CFG-Zero*: Improved Classifier-Free
// Guidance for Flow Matching Models", arXiv:2503.18886, eq. 7 and sec. 3.3):
//   s* = <cond, uncond> / (||uncond||^2 + 1e-8)
//   v  = s* * uncond + scale * (cond - s* * uncond)
// over the whole sample, the sums in float32. The paper's zero init (a zero
// velocity for the first step) is the caller's: it depends on the step.
// Scale 1 gives cond, as plain CFG does.
at::Tensor cfg_zero_star(const at::Tensor& cond, const at::Tensor& uncond, double scale);

}  // namespace soragen::sampling
