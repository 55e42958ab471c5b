// Classifier-free guidance as wan/text2video.py applies it between two
// separate model calls (golden README trap 27).
#pragma once

#include <ATen/core/Tensor.h>

#include "sampling/guidance_method.h"

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

// Adaptive projected guidance (Sadat, Hilliges, Weber, "Eliminating
// Oversaturation and Artifacts of High Guidance Scales in Diffusion Models",
// arXiv:2410.02416, Algorithm 1), on the denoised predictions x0 as the paper
// applies it:
//   D = cond - uncond; with momentum beta: A = D + beta * A_previous, D = A
//   D = D * min(1, r / ||D||)                       when r (norm) > 0
//   D_par = (<D, cond> / ||cond||^2) cond,  D_orth = D - D_par
//   guided = cond + (scale - 1) * (D_orth + eta * D_par)
// Norms and dot products over the whole sample, in float32. One object per
// render: it holds the running average A between steps.
class AdaptiveProjectedGuidance {
 public:
  explicit AdaptiveProjectedGuidance(const ApgSettings& settings) : settings_(settings) {}

  // The guided denoised prediction from the conditional and unconditional
  // ones; advances the running average.
  at::Tensor guide(const at::Tensor& cond, const at::Tensor& uncond, double scale);

  // The same on flow-matching velocities v of `sample` at `sigma` (x0 =
  // sample - sigma * v): returns the velocity whose x0 is the guided one,
  // v_cond - (scale - 1) * update / sigma, without the cancellation of
  // going through x0 and back. sigma must be above 0.
  at::Tensor guide_velocity(const at::Tensor& cond, const at::Tensor& uncond, const at::Tensor& sample,
                            double sigma, double scale);

 private:
  // (D_orth + eta * D_par) of the algorithm above.
  at::Tensor update(const at::Tensor& cond, const at::Tensor& uncond);

  ApgSettings settings_;
  at::Tensor running_;
};

// Skip-layer guidance as Stability AI's SD3.5 reference applies it
// (sd3_impls.py, SkipLayerCFGDenoiser): the guided prediction plus the
// difference between the conditional prediction and a conditional pass with
// some blocks skipped,
//   v = guided + slg_scale * (cond - cond_skipped),  guided = uncond + scale * (cond - uncond).
// (The Wan form, slg, needs no formula of its own: its unconditional pass
// skips the blocks and CFG combines as usual.)
at::Tensor skip_layer_guidance(const at::Tensor& guided, const at::Tensor& cond, const at::Tensor& cond_skipped,
                               double slg_scale);

}  // namespace soragen::sampling
