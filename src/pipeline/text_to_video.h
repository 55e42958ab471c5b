// The reference's WanT2V.generate (wan/text2video.py) on loaded components:
// contexts in, latent noise in, denoised latent and decoded video out. The
// public Pipeline adds tokenizing, seeding and frame conversion on top; the
// parity test drives this layer with the golden file's token ids and noise.
#pragma once

#include <ATen/ATen.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "dit/wan_model.h"
#include "text_encoder/text_encoder.h"
#include "vae/wan_vae.h"

namespace soragen::pipeline {

struct SamplingSettings {
  std::string sampler = "unipc";
  int steps = 50;
  double shift = 5.0;
  double guidance = 5.0;
};

// Called after each denoising step with (step done, total); may throw.
using StepCallback = std::function<void(int step, int total)>;

// What one denoising step saw and produced, for parity tests and debugging.
struct StepTrace {
  int step = 0;  // 0-based
  int64_t timestep = 0;
  at::Tensor cond;    // model output with the prompt
  at::Tensor uncond;  // model output with the negative prompt
  at::Tensor latent;  // sample after the step
};
using StepTraceHook = std::function<void(const StepTrace&)>;

// The NaN/Inf check of the denoising loop without a synchronisation per
// step: record() folds "this step's latent is not all finite" into a flag on
// the device (the first bad step), and the host reads it every
// `check_every` steps and at the end. A bad step is still named exactly; at
// most check_every - 1 steps run past it.
class NonFiniteGuard {
 public:
  static constexpr int kCheckEvery = 5;
  NonFiniteGuard(c10::Device device, int total_steps, int check_every = kCheckEvery);
  // Step `step` (0-based) produced `latent`; reads the flag every check_every steps.
  void record(const at::Tensor& latent, int step);
  // Reads the flag (one device-to-host copy); throws ModelError naming the
  // first bad step.
  void check() const;

 private:
  at::Tensor first_bad_;  // int64 scalar on the device, -1 while every step was finite
  int total_;
  int check_every_;
};

class TextToVideo {
 public:
  // `offload`: the DiT and VAE wait in CPU memory and move to `device` only
  // while they run, trading transfer time for GPU memory; so does the text
  // encoder, which runs on `encoder_device` (default: `device`).
  TextToVideo(std::unique_ptr<text_encoder::TextEncoder> encoder, dit::WanModel dit, vae::WanVAE vae,
              c10::Device device, bool offload = false, std::optional<c10::Device> encoder_device = std::nullopt);

  // ids, mask: [1, text_len] int64. Returns the trimmed context [L, text_dim]
  // on the device, as T5EncoderModel.__call__ returns it.
  at::Tensor encode(const at::Tensor& ids, const at::Tensor& mask) const;

  // Frees the text encoder's weights (11 GB for umT5-XXL) once every prompt
  // is encoded; encode() afterwards is an error.
  void release_text_encoder();
  bool has_text_encoder() const { return encoder_ != nullptr; }

  // The latent shape for a video: (z_dim, (frames-1)/4+1, height/8, width/8).
  std::array<int64_t, 4> latent_shape(int frames, int height, int width) const;

  // Standard normal noise of that shape from a CPU generator seeded with
  // `seed`, moved to the device: a seed means the same video on CPU and GPU.
  at::Tensor initial_noise(std::uint64_t seed, const std::array<int64_t, 4>& shape) const;

  // Runs the sampler from `noise` with classifier-free guidance, conditional
  // and unconditional in one batch of 2. Checks `cancel` after every step
  // (InterruptedError) and stops with ModelError at the first step whose
  // latent holds NaN or Inf. Returns the float32 latent [z_dim, F, h, w].
  at::Tensor denoise(const at::Tensor& noise, const at::Tensor& context, const at::Tensor& context_null,
                     const SamplingSettings& settings, const StepCallback& on_step = nullptr,
                     const std::atomic<bool>* cancel = nullptr, const StepTraceHook& trace = nullptr);

  // Decodes a latent to video in [-1, 1], [3, T, H, W] float32 on the CPU,
  // streaming one latent frame at a time through the VAE.
  at::Tensor decode(const at::Tensor& latent, const vae::TileOptions& tiling = {});

  const dit::WanModel& dit() const { return dit_; }
  const vae::WanVAE& vae() const { return vae_; }
  c10::Device device() const { return device_; }

 private:
  std::unique_ptr<text_encoder::TextEncoder> encoder_;
  dit::WanModel dit_;
  vae::WanVAE vae_;
  c10::Device device_;
  bool offload_ = false;
  c10::Device encoder_device_;
};

}  // namespace soragen::pipeline
