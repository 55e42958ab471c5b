// Classifier-free guidance as wan/text2video.py applies it between two
// separate model calls (golden README trap 27).
#pragma once

#include <ATen/core/Tensor.h>

namespace soragen::sampling {

// uncond + scale * (cond - uncond), elementwise in the inputs' dtype, in the
// reference's operation order. scale 1 gives cond, 0 gives uncond.
at::Tensor classifier_free_guidance(const at::Tensor& cond, const at::Tensor& uncond, double scale);

}  // namespace soragen::sampling
