#include "pipeline/text_to_video.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <stdexcept>

#include "io/tensor_source.h"
#include "sampling/guidance.h"
#include "sampling/sampler.h"
#include "soragen/error.h"

namespace soragen::pipeline {

namespace {

// Moves a module to `device` for the scope and back to the CPU after it, when
// offloading; does nothing otherwise.
class OnDevice {
 public:
  OnDevice(torch::nn::Module& module, c10::Device device, bool offload)
      : module_(module), active_(offload && !device.is_cpu()) {
    if (active_) module_.to(device);
  }
  ~OnDevice() {
    if (active_) module_.to(c10::Device(c10::kCPU));
  }
  OnDevice(const OnDevice&) = delete;
  OnDevice& operator=(const OnDevice&) = delete;

 private:
  torch::nn::Module& module_;
  bool active_;
};

}  // namespace

NonFiniteGuard::NonFiniteGuard(c10::Device device, int total_steps, int check_every)
    : first_bad_(at::full({}, -1, at::TensorOptions().dtype(at::kLong).device(device))),
      total_(total_steps),
      check_every_(check_every < 1 ? 1 : check_every) {}

void NonFiniteGuard::record(const at::Tensor& latent, int step) {
  // first_bad = step where it is still -1 and this latent is not all finite.
  first_bad_.masked_fill_(first_bad_.lt(0).logical_and(latent.isfinite().all().logical_not()), step);
  if ((step + 1) % check_every_ == 0) check();
}

void NonFiniteGuard::check() const {
  const int64_t first = first_bad_.item<int64_t>();
  if (first < 0) return;
  throw ModelError("denoising step " + std::to_string(first + 1) + "/" + std::to_string(total_) +
                   " produced NaN or Inf latents (likely an fp16 overflow or low attention precision; "
                   "try --dtype bf16 or fp32)");
}

TextToVideo::TextToVideo(std::unique_ptr<text_encoder::TextEncoder> encoder, dit::WanModel dit, vae::WanVAE vae,
                         c10::Device device, bool offload, std::optional<c10::Device> encoder_device)
    : encoder_(std::move(encoder)),
      dit_(std::move(dit)),
      vae_(std::move(vae)),
      device_(device),
      offload_(offload),
      encoder_device_(encoder_device.value_or(device)) {
  if (offload_ && encoder_) encoder_->to(c10::Device(c10::kCPU));
  if (!offload_) {
    dit_->to(device_);
    vae_->to(device_);
  }
}

at::Tensor TextToVideo::encode(const at::Tensor& ids, const at::Tensor& mask) const {
  if (!encoder_) throw ModelError("the text encoder was already released");
  const bool move = offload_ && !encoder_device_.is_cpu();
  if (move) encoder_->to(encoder_device_);
  std::vector<at::Tensor> contexts = encoder_->encode(ids, mask);
  at::Tensor context = contexts.at(0).to(device_);
  if (move) encoder_->to(c10::Device(c10::kCPU));
  return context;
}

void TextToVideo::release_text_encoder() { encoder_.reset(); }

std::array<int64_t, 4> TextToVideo::latent_shape(int frames, int height, int width) const {
  const vae::VaeConfig& config = vae_->config();
  const int64_t spatial = config.spatial_factor();
  return {config.z_dim, (frames - 1) / config.temporal_factor() + 1, height / spatial, width / spatial};
}

at::Tensor TextToVideo::initial_noise(std::uint64_t seed, const std::array<int64_t, 4>& shape) const {
  at::Generator generator = at::detail::createCPUGenerator(seed);
  return at::randn({shape[0], shape[1], shape[2], shape[3]}, generator, at::TensorOptions().dtype(at::kFloat))
      .to(device_);
}

at::Tensor TextToVideo::denoise(const at::Tensor& noise, const at::Tensor& context, const at::Tensor& context_null,
                                const SamplingSettings& settings, const StepCallback& on_step,
                                const std::atomic<bool>* cancel, const StepTraceHook& trace) {
  const auto sampler = sampling::make_sampler(settings.sampler, settings.steps, settings.shift);
  const dit::DitConfig& config = dit_->config();
  // text2video.py: seq_len = ceil(h*w / (ph*pw) * f) over the latent grid.
  const int64_t tokens_per_frame = (noise.size(2) / config.patch_size[1]) * (noise.size(3) / config.patch_size[2]);
  const int64_t seq_len = tokens_per_frame * (noise.size(1) / config.patch_size[0]);

  const OnDevice dit_on_device(*dit_, device_, offload_);
  at::Tensor latent = noise.to(device_, at::kFloat);
  const std::vector<at::Tensor> contexts{context, context_null};
  const int total = static_cast<int>(sampler->timesteps().size());
  // Nothing inside the loop waits for the device. The timestep tensors are
  // made once, before it, by fills on the device (no host-to-device copy);
  // the NaN/Inf guard is a flag on the device that the host reads every few
  // steps (the one synchronisation, see NonFiniteGuard). The model sees the
  // scheduler's int64 timestep as a float, not sigma * 1000.
  std::vector<at::Tensor> timesteps;
  for (const int64_t timestep : sampler->timesteps()) {
    timesteps.push_back(
        at::full({2}, static_cast<double>(timestep), at::TensorOptions().dtype(at::kFloat).device(device_)));
  }
  NonFiniteGuard guard(device_, total);
  for (int i = 0; i < total; ++i) {
    const int64_t timestep = sampler->timesteps()[static_cast<std::size_t>(i)];
    const std::vector<at::Tensor> predictions =
        dit_->forward({latent, latent}, timesteps[static_cast<std::size_t>(i)], contexts, seq_len);
    const at::Tensor velocity = sampling::classifier_free_guidance(predictions[0], predictions[1], settings.guidance);
    latent = sampler->step(velocity, timestep, latent);
    if (trace) trace({i, timestep, predictions[0], predictions[1], latent});
    guard.record(latent, i);
    if (on_step) on_step(i + 1, total);
    if (cancel && cancel->load() && i + 1 < total) {
      guard.check();
      throw InterruptedError("interrupted after denoising step " + std::to_string(i + 1) + "/" + std::to_string(total));
    }
  }
  guard.check();
  return latent;
}

at::Tensor TextToVideo::decode(const at::Tensor& latent, const vae::TileOptions& tiling) {
  const OnDevice vae_on_device(*vae_, device_, offload_);
  vae::DecodeOptions options;
  options.tiling = tiling;
  // WanVAE.decode takes a batch; the decoded video comes back clamped. Each
  // chunk of frames goes to the host as soon as it is decoded, so the device
  // holds one chunk at a time, whatever the frame count.
  const vae::VaeConfig& config = vae_->config();
  const int64_t frames = (latent.size(1) - 1) * config.temporal_factor() + 1;
  const int64_t factor = config.spatial_factor();
  at::Tensor video = at::empty({3, frames, latent.size(2) * factor, latent.size(3) * factor}, at::kFloat);
  int64_t filled = 0;
  vae_->decode_frames(
      latent.unsqueeze(0).to(device_, at::kFloat),
      [&](const at::Tensor& chunk, int64_t first) {
        if (chunk.size(0) != 1 || chunk.size(1) != 3 || first + chunk.size(2) > frames ||
            chunk.size(3) != video.size(2) || chunk.size(4) != video.size(3)) {
          throw InternalError("VAE decode: chunk " + io::format_shape(chunk.sizes()) + " at frame " +
                              std::to_string(first) + " does not fit the video " + io::format_shape(video.sizes()));
        }
        video.narrow(1, first, chunk.size(2)).copy_(chunk.squeeze(0));
        filled = first + chunk.size(2);
      },
      options);
  if (filled != frames) {
    throw InternalError("VAE decode produced " + std::to_string(filled) + " frames, expected " +
                        std::to_string(frames));
  }
  return video;
}

}  // namespace soragen::pipeline
