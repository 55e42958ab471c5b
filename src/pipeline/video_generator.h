// The reference's generate loops on loaded components: contexts in, latent
// noise in, denoised latent and decoded video out. One loop serves
//  - WanT2V.generate of Wan2.1 and of Wan2.2 T2V-A14B (two experts),
//  - WanTI2V.generate (wan/textimage2video.py: per-token timesteps, the
//    image's latent held on frame 0),
//  - WanI2V.generate of Wan2.2 I2V-A14B (the conditioning y on the input).
// The public Pipeline adds tokenizing, seeding, image reading and frame
// conversion on top; the parity tests drive this layer with the golden
// files' token ids, images and noise.
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dit/step_cache_calibration.h"
#include "dit/step_cache_tables.h"
#include "dit/wan_model.h"
#include "pipeline/conditioning.h"
#include "pipeline/video_vae.h"
#include "text_encoder/text_encoder.h"
#include "vae/tiny_decoder.h"

namespace soragen::pipeline {

struct SamplingSettings {
  std::string sampler = "unipc";
  int steps = 50;
  double shift = 5.0;
  double guidance = 5.0;
  // The high-noise expert's scale in a two-expert model (the reference's
  // guide_scale[1]); unset: `guidance` for both, as a plain float does.
  std::optional<double> guidance_high;
  // A --guidance-method text: cfg, cfg-zero-star, apg, slg or slg-sd35 with
  // their settings (sampling/guidance_method.h).
  std::string guidance_method = "cfg";
  // A --cache text: none, fbcache, teacache or magcache with settings
  // (dit/step_cache.h).
  std::string cache = "none";
};

// A DiT of the model and the timesteps it serves: t >= min_timestep. One
// DiT serves all (0); Wan2.2 A14B's high-noise expert serves t >= boundary *
// 1000 and its low-noise expert the rest (golden README, Wan2.2 trap 16).
// An expert with `load` set is loaded when a step first needs it.
struct DitExpert {
  std::string name = "DiT";  // "high-noise expert", for the log
  double min_timestep = 0;
  dit::WanModel model{nullptr};
  std::function<dit::WanModel()> load;
};

// Called after each denoising step with (step done, total); may throw.
using StepCallback = std::function<void(int step, int total)>;

// What the video looks like so far (--preview): every `every` steps the
// denoised estimate x0 = x_t - sigma * v of that step (flow matching), with
// the frames the conditioning holds put back, and once more at the end the
// final latent. `show` gets x0 [z_dim, F, h, w] on the device, float32, and
// (steps done, total steps) of this run.
struct DenoisedPreview {
  int every = 0;  // 0: no preview
  std::function<void(const at::Tensor& x0, int step, int total)> show;
};

// What one denoising step saw and produced, for parity tests and debugging.
struct StepTrace {
  int step = 0;  // 0-based
  int64_t timestep = 0;
  at::Tensor cond;    // model output with the prompt
  at::Tensor uncond;  // model output with the negative prompt (computed at guidance 1 too while tracing)
  at::Tensor latent;  // the next model input: the sampler's output, re-blended when frame 0 is held
  at::Tensor sampler_out;       // the sampler's output before any re-blend
  at::Tensor token_timesteps;   // [1, seq_len] for a per-token (ti2v) DiT; undefined otherwise
  std::size_t expert = 0;       // index into the experts
  double guidance = 0;          // the scale this step used
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

class VideoGenerator {
 public:
  // `experts`: the DiTs, highest min_timestep first (one for most models).
  // `offload`: the DiTs and the VAE wait in CPU memory and move to `device`
  // only while they run (one expert at a time), trading transfer time for GPU
  // memory; so does the text encoder, which runs on `encoder_device`
  // (default: `device`).
  VideoGenerator(std::unique_ptr<text_encoder::TextEncoder> encoder, std::vector<DitExpert> experts, VideoVae vae,
                 c10::Device device, bool offload = false, std::optional<c10::Device> encoder_device = std::nullopt);
  // One DiT.
  VideoGenerator(std::unique_ptr<text_encoder::TextEncoder> encoder, dit::WanModel dit, VideoVae vae,
                 c10::Device device, bool offload = false, std::optional<c10::Device> encoder_device = std::nullopt);

  // ids, mask: [1, text_len] int64. Returns the trimmed context [L, text_dim]
  // on the device, as T5EncoderModel.__call__ returns it.
  at::Tensor encode(const at::Tensor& ids, const at::Tensor& mask) const;

  // Frees the text encoder's weights (11 GB for umT5-XXL) once every prompt
  // is encoded; encode() afterwards is an error.
  void release_text_encoder();
  bool has_text_encoder() const { return encoder_ != nullptr; }

  // The latent shape for a video: (z_dim, (frames-1)/4+1, height/s, width/s)
  // with s the VAE's spatial factor (8, or 16 for the Wan2.2 VAE).
  std::array<int64_t, 4> latent_shape(int frames, int height, int width) const;

  // Standard normal noise of that shape from a CPU generator seeded with
  // `seed`, moved to the device: a seed means the same video on CPU and GPU.
  at::Tensor initial_noise(std::uint64_t seed, const std::array<int64_t, 4>& shape) const;

  // Runs the sampler from `noise` with classifier-free guidance, conditional
  // and unconditional in one batch of 2, with the expert each timestep
  // belongs to and `conditioning` (empty: text to video). Checks `cancel`
  // after every step (InterruptedError) and stops with ModelError at the
  // first step whose latent holds NaN or Inf. Shows `preview` its denoised
  // estimates (each one a device synchronisation). Returns the float32
  // latent [z_dim, F, h, w].
  at::Tensor denoise(const at::Tensor& noise, const at::Tensor& context, const at::Tensor& context_null,
                     const SamplingSettings& settings, const StepCallback& on_step = nullptr,
                     const std::atomic<bool>* cancel = nullptr, const StepTraceHook& trace = nullptr,
                     const Conditioning& conditioning = {}, const DenoisedPreview& preview = {});

  // CFG parallelism over two processes: each computes one half of every
  // guided pass, `half` 0 the conditional and 1 the unconditional (with
  // slg's skipped blocks on its steps), and `gather` returns both halves,
  // {cond, uncond}, from the two. Both processes then guide and step alike,
  // so their latents stay equal. Passes without a pair (guidance 1, slg-sd35's
  // third pass) run on both. An empty gather (the default) runs the pair as
  // one batch of 2 here.
  struct GuidanceSplit {
    int half = 0;
    std::function<std::vector<at::Tensor>(const at::Tensor&)> gather;
  };
  void split_guidance(GuidanceSplit split) { split_ = std::move(split); }
  // Ulysses sequence parallelism: every DiT pass runs on this rank's share
  // of the tokens (dit/sequence_parallel.h). Null: every token here.
  void split_sequence(std::shared_ptr<dit::SequenceParallel> group) { sequence_ = std::move(group); }
  // A tiled decode shares its tiles among the ranks of a split render
  // (vae::TileShare); an untiled one runs whole on every rank.
  void split_decode(vae::TileShare share) { decode_share_ = std::move(share); }

  // video [3, F, H, W] in [-1, 1] -> its normalised latent [z_dim, f, h, w]
  // on the device (float32).
  at::Tensor encode_video(const at::Tensor& video);

  // TI2V with an image: the latent [z_dim, 1, h, w] of `rgb_u8` ([H, W, 3]
  // uint8, already fitted to the frame: video/image_fit.h), normalised as
  // to_tensor * 2 - 1 (golden README, Wan2.2 trap 14). Frame 0 is held at it.
  at::Tensor first_frame_latent(const at::Tensor& rgb_u8);

  // I2V-A14B's conditioning (trap 19) for `frames` frames: each image ([H, W,
  // 3] uint8, the last one optional) normalised and resized by one bicubic
  // interpolation to the latent grid that `max_area` pixels give at the first
  // image's aspect ratio, then [first, zeros, last] encoded as one video.
  struct ImageCondition {
    at::Tensor y;             // [4 + z_dim, lat_f, lat_h, lat_w]: mask, then latent
    at::Tensor first;         // the first image as encoded, [3, 1, H, W] in [-1, 1]
    int64_t lat_h = 0;
    int64_t lat_w = 0;
  };
  ImageCondition image_condition(const at::Tensor& first_u8, const std::optional<at::Tensor>& last_u8,
                                 int64_t frames, int64_t max_area);

  // Decodes a latent to video in [-1, 1], [3, T, H, W] float32 on the CPU,
  // streaming one latent frame at a time through the VAE.
  at::Tensor decode(const at::Tensor& latent, const vae::TileOptions& tiling = {});

  // The tiny preview decoder (TAEHV design) for --preview and --fast-decode;
  // it moves to the device and stays there (a few MB).
  void set_preview_decoder(vae::TinyDecoder decoder);
  bool has_preview_decoder() const { return !preview_decoder_.is_empty(); }
  // What decode() returns, made by the preview decoder: [3, T, H, W] in
  // [-1, 1] on the CPU, one frame at a time. InternalError without one.
  at::Tensor decode_fast(const at::Tensor& latent);

  // The first expert's DiT (the only one, or the high-noise expert), loading it if needed.
  const dit::WanModel& dit();
  const std::vector<DitExpert>& experts() const { return experts_; }
  // DiT passes of the last denoise, and how many of them reused the step
  // cache's residual (0 without --cache).
  struct CacheCount {
    int passes = 0;
    int reused = 0;
  };
  CacheCount last_cache_count() const { return last_cache_count_; }
  // What TeaCache and MagCache know of this model (published or bundled).
  void set_step_cache_tables(dit::StepCacheTables tables) { step_cache_tables_ = std::move(tables); }
  const dit::StepCacheTables& step_cache_tables() const { return step_cache_tables_; }
  // While set, every render runs every block and records into `calibration`
  // instead of caching (dit/step_cache_calibration.h); null ends it.
  void calibrate_step_cache(std::shared_ptr<dit::StepCacheCalibration> calibration) {
    calibration_ = std::move(calibration);
  }
  // Frees the DiTs, then puts what `load` returns in their place: a request
  // with other LoRAs gets DiTs loaded with those merged.
  void reload_experts(const std::function<std::vector<DitExpert>()>& load);
  VideoVae& vae() { return vae_; }
  c10::Device device() const { return device_; }

 private:
  // The expert serving `timestep`, loaded and on the device.
  std::size_t expert_for(int64_t timestep) const;
  dit::WanModel& ready(std::size_t expert);
  // Checks the order of `experts` and moves them in (and to the device unless parked).
  void take_experts(std::vector<DitExpert> experts);

  CacheCount last_cache_count_;
  dit::StepCacheTables step_cache_tables_;
  std::shared_ptr<dit::StepCacheCalibration> calibration_;
  GuidanceSplit split_;
  std::shared_ptr<dit::SequenceParallel> sequence_;
  vae::TileShare decode_share_;
  std::unique_ptr<text_encoder::TextEncoder> encoder_;
  std::vector<DitExpert> experts_;
  VideoVae vae_;
  vae::TinyDecoder preview_decoder_{nullptr};
  c10::Device device_;
  bool offload_ = false;  // the text encoder visits its device per prompt
  bool park_ = false;     // offload on a GPU: the DiTs and the VAE wait in CPU memory
  c10::Device encoder_device_;
  std::optional<std::size_t> on_device_;  // with offload: the expert now on the device
};

}  // namespace soragen::pipeline
