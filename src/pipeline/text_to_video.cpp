#include "pipeline/text_to_video.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

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

TextToVideo::TextToVideo(std::unique_ptr<text_encoder::TextEncoder> encoder, dit::WanModel dit, vae::WanVAE vae,
                         c10::Device device, bool offload)
    : encoder_(std::move(encoder)), dit_(std::move(dit)), vae_(std::move(vae)), device_(device), offload_(offload) {
  if (!offload_) {
    dit_->to(device_);
    vae_->to(device_);
  }
}

at::Tensor TextToVideo::encode(const at::Tensor& ids, const at::Tensor& mask) const {
  if (!encoder_) throw ModelError("the text encoder was already released");
  std::vector<at::Tensor> contexts = encoder_->encode(ids, mask);
  return contexts.at(0).to(device_);
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
  for (int i = 0; i < total; ++i) {
    const int64_t timestep = sampler->timesteps()[static_cast<std::size_t>(i)];
    // The model sees the scheduler's int64 timestep, not sigma * 1000.
    const at::Tensor t = at::full({2}, static_cast<double>(timestep), at::TensorOptions().dtype(at::kFloat).device(device_));
    const std::vector<at::Tensor> predictions = dit_->forward({latent, latent}, t, contexts, seq_len);
    const at::Tensor velocity = sampling::classifier_free_guidance(predictions[0], predictions[1], settings.guidance);
    latent = sampler->step(velocity, timestep, latent);
    if (trace) trace({i, timestep, predictions[0], predictions[1], latent});
    if (!latent.isfinite().all().item<bool>()) {
      throw ModelError("denoising step " + std::to_string(i + 1) + "/" + std::to_string(total) +
                       " produced NaN or Inf latents (likely an fp16 overflow or low attention precision; "
                       "try --dtype bf16 or fp32)");
    }
    if (on_step) on_step(i + 1, total);
    if (cancel && cancel->load() && i + 1 < total) {
      throw InterruptedError("interrupted after denoising step " + std::to_string(i + 1) + "/" + std::to_string(total));
    }
  }
  return latent;
}

at::Tensor TextToVideo::decode(const at::Tensor& latent, const vae::TileOptions& tiling) {
  const OnDevice vae_on_device(*vae_, device_, offload_);
  vae::DecodeOptions options;
  options.tiling = tiling;
  // WanVAE.decode takes a batch; the decoded video comes back clamped.
  return vae_->decode(latent.unsqueeze(0).to(device_, at::kFloat), options).squeeze(0).to(at::kCPU, at::kFloat);
}

}  // namespace soragen::pipeline
