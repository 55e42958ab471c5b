// DPM-Solver++ for flow matching (wan/utils/fm_solvers.py), configured as
// wan/text2video.py does: dpmsolver++ (data prediction), solver order 2,
// midpoint, final sigma 0 (so the last step is first order). Scalars are
// float32 as the reference computes them on 0-dim float32 tensors.
#include <ATen/ATen.h>

#include <algorithm>

#include "sampling/flow_math.h"
#include "sampling/sampler.h"

namespace soragen::sampling {
namespace {

constexpr int kSolverOrder = 2;

class DpmppSampler final : public Sampler {
 public:
  explicit DpmppSampler(Schedule schedule) : Sampler(std::move(schedule)) {}
  const char* name() const override { return "dpm++"; }

 protected:
  at::Tensor advance(const at::Tensor& velocity, const at::Tensor& sample, int64_t index) override {
    const float sigma_t = sigma_at(index + 1);
    const float sigma_s0 = sigma_at(index);
    const float alpha_t = 1.0f - sigma_t;
    const float lambda_s0 = flow_lambda(sigma_s0);
    const float h = flow_lambda(sigma_t) - lambda_s0;
    // alpha_t * (exp(-h) - 1), the first-order weight of the data prediction.
    const float c = alpha_t * (aten_exp(-h) - 1.0f);

    previous_x0_ = std::move(current_x0_);
    current_x0_ = sample - velocity * sigma_s0;

    // final_sigmas_type "zero" makes the last step first order whatever the
    // step count; the first step has no history.
    const bool first_order = warmup_steps_ < 1 || index == num_steps() - 1;
    warmup_steps_ = std::min(warmup_steps_ + 1, kSolverOrder);
    if (first_order) return sample * (sigma_t / sigma_s0) - current_x0_ * c;

    // Midpoint 2M. With sigmas[0] = 1, step 1 sees lambda_s1 = -inf, so
    // r0 = +inf and D1 = 0: it is first order too, as in the reference.
    const float lambda_s1 = flow_lambda(sigma_at(index - 1));
    const float r0 = (lambda_s0 - lambda_s1) / h;
    const at::Tensor d1 = (current_x0_ - previous_x0_) * (1.0f / r0);
    return sample * (sigma_t / sigma_s0) - current_x0_ * c - d1 * (0.5f * c);
  }

  void clear_history() override {
    previous_x0_ = at::Tensor();
    current_x0_ = at::Tensor();
    warmup_steps_ = 0;
  }

 private:
  float sigma_at(int64_t index) const { return sigmas()[static_cast<size_t>(index)]; }

  at::Tensor previous_x0_;
  at::Tensor current_x0_;
  int warmup_steps_ = 0;  // the reference's lower_order_nums
};

}  // namespace

std::unique_ptr<Sampler> make_dpmpp_sampler(int64_t steps, double shift) {
  return std::make_unique<DpmppSampler>(dpmpp_schedule(steps, shift));
}

}  // namespace soragen::sampling
