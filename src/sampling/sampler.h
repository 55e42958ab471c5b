// Flow-matching samplers of Wan2.1: UniPC (the reference default), DPM-Solver++
// 2M and plain Euler, each on the reference's sigma schedule.
//
//   auto sampler = soragen::sampling::make_sampler("unipc", 50, 5.0);
//   for (int64_t t : sampler->timesteps()) {
//     at::Tensor v = guided velocity of the DiT at (latent, t);
//     latent = sampler->step(v, t, latent);
//   }
//
// The model predicts the flow velocity v = noise - x0 of x_sigma =
// (1 - sigma) x0 + sigma noise. Sampler state (history of data predictions,
// the sample) is float32 whatever the model's dtype; its scalars are host
// floats in the reference's precision, so stepping never syncs a device.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sampling/schedule.h"

namespace soragen::sampling {

class Sampler {
 public:
  virtual ~Sampler() = default;
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  // "unipc", "dpm++" or "euler", the CLI's spelling.
  virtual const char* name() const = 0;

  // The timesteps to feed the model, in order ([N], int64 as the reference).
  const std::vector<int64_t>& timesteps() const { return schedule_.timesteps; }
  // [N + 1]; step i moves the sample from sigmas[i] to sigmas[i + 1].
  const std::vector<float>& sigmas() const { return schedule_.sigmas; }
  int64_t num_steps() const { return static_cast<int64_t>(schedule_.timesteps.size()); }
  // Steps taken since construction or the last reset().
  int64_t steps_done() const { return index_; }

  // One step: `model_output` is the (guided) velocity at `sample` for
  // `timestep`, which must be timesteps()[steps_done()]. Returns the float32
  // sample at the next sigma, on the sample's device. Throws UsageError when
  // called out of order, past the last step, or with mismatched shapes.
  at::Tensor step(const at::Tensor& model_output, int64_t timestep, const at::Tensor& sample);

  // Forgets the history, to sample another trajectory on the same schedule.
  void reset();
  // Forgets the history and makes step `index` the next one: a trajectory
  // that joins the schedule part-way (video to video starts from a noised
  // clip at sigmas()[index]). The multistep solvers warm up again from
  // there, first order, as at step 0. index == num_steps() leaves no step.
  void start_at(int64_t index);

 protected:
  explicit Sampler(Schedule schedule) : schedule_(std::move(schedule)) {}

  // Step `index` on float32 tensors of equal shape.
  virtual at::Tensor advance(const at::Tensor& velocity, const at::Tensor& sample, int64_t index) = 0;
  virtual void clear_history() = 0;

 private:
  Schedule schedule_;
  int64_t index_ = 0;
};

// FlowUniPCMultistepScheduler: bh2, order 2, predictor + corrector,
// lower_order_final, as wan/text2video.py configures `unipc`.
std::unique_ptr<Sampler> make_unipc_sampler(int64_t steps, double shift);
// FlowDPMSolverMultistepScheduler: dpmsolver++, 2M midpoint, first order at
// the first and the last step, as wan/text2video.py configures `dpm++`.
std::unique_ptr<Sampler> make_dpmpp_sampler(int64_t steps, double shift);
// x_{i+1} = x_i + (sigma_{i+1} - sigma_i) * v on the UniPC schedule (not in
// the reference pipeline).
std::unique_ptr<Sampler> make_euler_sampler(int64_t steps, double shift);

// By name ("unipc", "dpm++", "euler"). Throws UsageError for an unknown name,
// steps outside [1, 1000] or a shift that is not a finite number above 0.
std::unique_ptr<Sampler> make_sampler(const std::string& name, int64_t steps, double shift = 5.0);

}  // namespace soragen::sampling
