// Flow-matching sigma schedules and the integer timesteps the DiT receives,
// reproduced bit for bit from the reference (golden README traps 21-22):
//
//   s_k   = k * (-start / N) + start        float64, numpy.linspace's form, k < N
//   s_k   = S * s_k / (1 + (S - 1) * s_k)   float64, the shift S
//   t_k   = (int64) trunc(s_k * 1000)       what the model is fed
//   sig_k = (float) s_k,  sig_N = 0
//
// UniPC starts at float32(0.999) widened to double (its training sigmas are
// float32), DPM++ at exactly 1.0.
#pragma once

#include <cstdint>
#include <vector>

namespace soragen::sampling {

// Wan2.1's num_train_timesteps: sigma 1 is timestep 1000.
inline constexpr int64_t kNumTrainTimesteps = 1000;

struct Schedule {
  std::vector<int64_t> timesteps;  // [N], non-increasing
  std::vector<float> sigmas;       // [N + 1], the last one 0
};

// The recipe above from an arbitrary unshifted first sigma.
Schedule flow_schedule(int64_t steps, double shift, double sigma_start);

// FlowUniPCMultistepScheduler.set_timesteps(steps, shift=shift), as
// wan/text2video.py calls it; the Euler sampler shares this schedule.
Schedule unipc_schedule(int64_t steps, double shift);

// FlowDPMSolverMultistepScheduler with sigmas=get_sampling_sigmas(steps, shift).
// The scheduler's own shift of 1 leaves those sigmas unchanged.
Schedule dpmpp_schedule(int64_t steps, double shift);

}  // namespace soragen::sampling
