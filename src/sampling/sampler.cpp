#include "sampling/sampler.h"

#include <ATen/ATen.h>

#include <sstream>

#include "soragen/error.h"

namespace soragen::sampling {

at::Tensor Sampler::step(const at::Tensor& model_output, int64_t timestep, const at::Tensor& sample) {
  const std::string where = std::string("sampler '") + name() + "'";
  if (index_ >= num_steps()) {
    throw InternalError(where + ": all " + std::to_string(num_steps()) + " steps are done (reset() to start again)");
  }
  // The reference finds its place from the timestep; a counter is simpler and
  // also right when the first timesteps repeat (e.g. UniPC, N >= 250, S = 5),
  // where the reference's lookup skips a step. The check catches a caller out
  // of step with the schedule.
  const int64_t expected = schedule_.timesteps[static_cast<size_t>(index_)];
  if (timestep != expected) {
    throw InternalError(where + ": step " + std::to_string(index_) + " got timestep " + std::to_string(timestep) +
                        ", expected " + std::to_string(expected));
  }
  if (model_output.sizes() != sample.sizes()) {
    std::ostringstream message;
    message << where << ": model output " << model_output.sizes() << " does not match the sample " << sample.sizes();
    throw InternalError(message.str());
  }
  // The reference keeps latents in float32 and the model's output is float32
  // (WanModel returns u.float()); a reduced-precision output is widened here.
  at::Tensor result = advance(model_output.to(at::kFloat), sample.to(at::kFloat), index_);
  ++index_;
  return result;
}

void Sampler::reset() {
  clear_history();
  index_ = 0;
}

void Sampler::start_at(int64_t index) {
  if (index < 0 || index > num_steps()) {
    throw InternalError(std::string("sampler '") + name() + "': start step " + std::to_string(index) +
                        " is outside 0.." + std::to_string(num_steps()));
  }
  clear_history();
  index_ = index;
}

std::unique_ptr<Sampler> make_sampler(const std::string& name, int64_t steps, double shift) {
  if (name == "unipc") return make_unipc_sampler(steps, shift);
  if (name == "dpm++") return make_dpmpp_sampler(steps, shift);
  if (name == "euler") return make_euler_sampler(steps, shift);
  throw UsageError("sampler '" + name + "': expected unipc, dpm++ or euler");
}

}  // namespace soragen::sampling
