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

at::Tensor AdaptiveProjectedGuidance::update(const at::Tensor& cond, const at::Tensor& uncond) {
  at::Tensor diff = cond.to(at::kFloat) - uncond.to(at::kFloat);
  if (settings_.momentum != 0) {
    running_ = running_.defined() ? diff + running_ * settings_.momentum : diff;
    diff = running_;
  }
  if (settings_.norm_threshold > 0) {
    // min(1, r / ||D||) as a tensor: no read back to the host.
    diff = diff * (settings_.norm_threshold / diff.norm()).clamp_max(1.0);
  }
  const at::Tensor c = cond.to(at::kFloat);
  // torch.nn.functional.normalize's floor on the norm: a zero cond projects to zero.
  const at::Tensor unit = c / c.norm().clamp_min(1e-12);
  const at::Tensor parallel = unit * (diff * unit).sum();
  return (diff - parallel) + parallel * settings_.eta;
}

at::Tensor AdaptiveProjectedGuidance::guide(const at::Tensor& cond, const at::Tensor& uncond, double scale) {
  return (cond.to(at::kFloat) + update(cond, uncond) * (scale - 1)).to(cond.scalar_type());
}

at::Tensor AdaptiveProjectedGuidance::guide_velocity(const at::Tensor& cond, const at::Tensor& uncond,
                                                     const at::Tensor& sample, double sigma, double scale) {
  const at::Tensor x = sample.to(at::kFloat);
  const at::Tensor cond_x0 = x - cond.to(at::kFloat) * sigma;
  const at::Tensor uncond_x0 = x - uncond.to(at::kFloat) * sigma;
  return (cond.to(at::kFloat) - update(cond_x0, uncond_x0) * ((scale - 1) / sigma)).to(cond.scalar_type());
}

at::Tensor skip_layer_guidance(const at::Tensor& guided, const at::Tensor& cond, const at::Tensor& cond_skipped,
                               double slg_scale) {
  return guided + (cond - cond_skipped) * slg_scale;
}

}  // namespace soragen::sampling
