// First-order flow-matching Euler on the UniPC schedule. Not part of the
// reference pipeline; the golden file defines it as
// x_{i+1} = x_i + (sigma_{i+1} - sigma_i) * v(x_i, t_i), all in float32.
#include <ATen/ATen.h>

#include "sampling/sampler.h"

namespace soragen::sampling {
namespace {

class EulerSampler final : public Sampler {
 public:
  explicit EulerSampler(Schedule schedule) : Sampler(std::move(schedule)) {}
  const char* name() const override { return "euler"; }

 protected:
  at::Tensor advance(const at::Tensor& velocity, const at::Tensor& sample, int64_t index) override {
    const auto i = static_cast<size_t>(index);
    const float dt = sigmas()[i + 1] - sigmas()[i];
    return sample + velocity * dt;
  }
  void clear_history() override {}
};

}  // namespace

std::unique_ptr<Sampler> make_euler_sampler(int64_t steps, double shift) {
  return std::make_unique<EulerSampler>(unipc_schedule(steps, shift));
}

}  // namespace soragen::sampling
