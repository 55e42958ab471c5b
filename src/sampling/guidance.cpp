#include "sampling/guidance.h"

#include <ATen/ATen.h>

namespace soragen::sampling {

at::Tensor classifier_free_guidance(const at::Tensor& cond, const at::Tensor& uncond, double scale) {
  return uncond + (cond - uncond) * scale;
}

}  // namespace soragen::sampling
