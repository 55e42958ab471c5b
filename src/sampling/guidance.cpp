#include "sampling/guidance.h"

#include <ATen/ATen.h>

namespace soragen::sampling {

at::Tensor classifier_free_guidance(const at::Tensor& cond, const at::Tensor& uncond, double scale) {
  return uncond + (cond - uncond) * scale;
}

at::Tensor cfg_zero_star(const at::Tensor& cond, const at::Tensor& uncond, double scale) {
  const at::Tensor c = cond.to(at::kFloat);
  const at::Tensor u = uncond.to(at::kFloat);
  const at::Tensor fit = (c * u).sum() / (u * u).sum().add(1e-8);
  const at::Tensor scaled = u * fit;
  return (scaled + (c - scaled) * scale).to(cond.scalar_type());
}

}  // namespace soragen::sampling
