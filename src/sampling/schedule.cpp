// Built with -ffp-contract=off (see CMakeLists.txt): a fused multiply-add in
// the linspace or shift formula moves some timesteps by one.
#include "sampling/schedule.h"

#include <cmath>
#include <string>

#include "soragen/error.h"

namespace soragen::sampling {

Schedule flow_schedule(int64_t steps, double shift, double sigma_start) {
  if (steps < 1 || steps > kNumTrainTimesteps) {
    throw UsageError("sampling steps " + std::to_string(steps) + ": must be between 1 and " +
                     std::to_string(kNumTrainTimesteps));
  }
  if (!(std::isfinite(shift) && shift > 0)) {
    throw UsageError("sampling shift " + std::to_string(shift) + ": must be a finite number above 0");
  }
  Schedule schedule;
  schedule.timesteps.reserve(static_cast<size_t>(steps));
  schedule.sigmas.reserve(static_cast<size_t>(steps) + 1);
  // numpy.linspace(start, 0, N + 1)[:-1] computes arange(N+1) * step + start
  // with step = (0 - start) / N; the dropped endpoint is never evaluated.
  const double step = (0.0 - sigma_start) / static_cast<double>(steps);
  for (int64_t k = 0; k < steps; ++k) {
    const double s = static_cast<double>(k) * step + sigma_start;
    const double shifted = shift * s / (1.0 + (shift - 1.0) * s);
    // torch's float64 -> int64 conversion truncates toward zero.
    schedule.timesteps.push_back(static_cast<int64_t>(shifted * static_cast<double>(kNumTrainTimesteps)));
    schedule.sigmas.push_back(static_cast<float>(shifted));
  }
  // final_sigmas_type "zero".
  schedule.sigmas.push_back(0.0f);
  return schedule;
}

Schedule unipc_schedule(int64_t steps, double shift) {
  // The scheduler's training sigmas are 1 - linspace(1, 1/1000, 1000)
  // reversed, stored as float32; set_timesteps starts from sigmas[0].item(),
  // i.e. float32(0.999) = 0.99900001287 (trap 21: N=12, S=1 gives 666, not 665).
  const double sigma_max =
      static_cast<double>(static_cast<float>(1.0 - 1.0 / static_cast<double>(kNumTrainTimesteps)));
  return flow_schedule(steps, shift, sigma_max);
}

Schedule dpmpp_schedule(int64_t steps, double shift) { return flow_schedule(steps, shift, 1.0); }

}  // namespace soragen::sampling
