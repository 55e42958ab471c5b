#include "pipeline/video_generator.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <map>
#include <utility>
#include <tuple>
#include <stdexcept>

#include "core/parse_rule.h"
#include "dit/step_cache_factory.h"
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
      : module_(module), active_(offload) {
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

VideoGenerator::VideoGenerator(std::unique_ptr<text_encoder::TextEncoder> encoder, std::vector<DitExpert> experts,
                               VideoVae vae, c10::Device device, bool offload,
                               std::optional<c10::Device> encoder_device)
    : encoder_(std::move(encoder)),
      experts_(std::move(experts)),
      vae_(std::move(vae)),
      device_(device),
      offload_(offload),
      park_(offload && !device.is_cpu()),
      encoder_device_(encoder_device.value_or(device)) {
  if (offload_ && encoder_) encoder_->to(c10::Device(c10::kCPU));
  take_experts(std::move(experts_));
  if (!park_) vae_.module().to(device_);
}

void VideoGenerator::reload_experts(const std::function<std::vector<DitExpert>()>& load) {
  // The old DiTs go first: a 14B DiT twice would not fit.
  experts_.clear();
  on_device_.reset();
  take_experts(load());
}

void VideoGenerator::take_experts(std::vector<DitExpert> experts) {
  if (experts.empty()) throw InternalError("VideoGenerator: no DiT");
  for (std::size_t i = 1; i < experts.size(); ++i) {
    if (experts[i].min_timestep >= experts[i - 1].min_timestep) {
      throw InternalError("VideoGenerator: experts must come highest min_timestep first");
    }
  }
  if (experts.back().min_timestep > 0) throw InternalError("VideoGenerator: no expert serves the lowest timesteps");
  experts_ = std::move(experts);
  on_device_.reset();
  if (!park_) {
    for (DitExpert& expert : experts_) {
      if (!expert.model.is_empty()) expert.model->to(device_);
    }
  }
}

VideoGenerator::VideoGenerator(std::unique_ptr<text_encoder::TextEncoder> encoder, dit::WanModel dit, VideoVae vae,
                               c10::Device device, bool offload, std::optional<c10::Device> encoder_device)
    : VideoGenerator(std::move(encoder), std::vector<DitExpert>{DitExpert{"DiT", 0, std::move(dit), nullptr}},
                     std::move(vae), device, offload, encoder_device) {}

at::Tensor VideoGenerator::encode(const at::Tensor& ids, const at::Tensor& mask) const {
  if (!encoder_) throw ModelError("the text encoder was already released");
  const bool move = offload_ && !encoder_device_.is_cpu();
  if (move) encoder_->to(encoder_device_);
  std::vector<at::Tensor> contexts = encoder_->encode(ids, mask);
  at::Tensor context = contexts.at(0).to(device_);
  if (move) encoder_->to(c10::Device(c10::kCPU));
  return context;
}

void VideoGenerator::release_text_encoder() { encoder_.reset(); }

std::array<int64_t, 4> VideoGenerator::latent_shape(int frames, int height, int width) const {
  const int64_t spatial = vae_.spatial_factor();
  return {vae_.z_dim(), (frames - 1) / vae_.temporal_factor() + 1, height / spatial, width / spatial};
}

at::Tensor VideoGenerator::initial_noise(std::uint64_t seed, const std::array<int64_t, 4>& shape) const {
  at::Generator generator = at::detail::createCPUGenerator(seed);
  return at::randn({shape[0], shape[1], shape[2], shape[3]}, generator, at::TensorOptions().dtype(at::kFloat))
      .to(device_);
}

std::size_t VideoGenerator::expert_for(int64_t timestep) const {
  // The reference: high_noise_model if t.item() >= boundary, where t is the
  // scheduler's int64 timestep and boundary a float (875.0, 900.0).
  for (std::size_t i = 0; i < experts_.size(); ++i) {
    if (static_cast<double>(timestep) >= experts_[i].min_timestep) return i;
  }
  return experts_.size() - 1;
}

dit::WanModel& VideoGenerator::ready(std::size_t index) {
  DitExpert& expert = experts_[index];
  if (expert.model.is_empty()) {
    if (!expert.load) throw InternalError("VideoGenerator: the " + expert.name + " has neither weights nor a loader");
    expert.model = expert.load();
    if (!park_) expert.model->to(device_);
  }
  if (park_ && on_device_ != index) {
    // One expert on the device at a time: the other waits in CPU memory.
    if (on_device_) experts_[*on_device_].model->to(c10::Device(c10::kCPU));
    expert.model->to(device_);
    on_device_ = index;
  }
  // Set on every use: a reload (other LoRAs) makes new models.
  expert.model->run_options().sequence_parallel = sequence_;
  return expert.model;
}

const dit::WanModel& VideoGenerator::dit() {
  if (experts_.front().model.is_empty()) ready(0);
  return experts_.front().model;
}

at::Tensor VideoGenerator::denoise(const at::Tensor& noise, const at::Tensor& context, const at::Tensor& context_null,
                                   const SamplingSettings& settings, const StepCallback& on_step,
                                   const std::atomic<bool>* cancel, const StepTraceHook& trace,
                                   const Conditioning& conditioning, const DenoisedPreview& preview) {
  const auto sampler = sampling::make_sampler(settings.sampler, settings.steps, settings.shift);
  // Every expert has the first one's patch grid and model type.
  const dit::DitConfig& config = dit()->config();
  // seq_len over the latent grid: text2video.py's ceil(h*w/(ph*pw)*f) and
  // textimage2video.py's integer form agree on a grid the patch divides.
  const int64_t tokens_per_frame = (noise.size(2) / config.patch_size[1]) * (noise.size(3) / config.patch_size[2]);
  const int64_t seq_len = tokens_per_frame * (noise.size(1) / config.patch_size[0]);
  const at::TensorOptions on_device = at::TensorOptions().dtype(at::kFloat).device(device_);
  const std::array<int64_t, 4> shape{noise.size(0), noise.size(1), noise.size(2), noise.size(3)};

  // Video to video joins the schedule part-way; the held frames apply from
  // the first latent the model sees.
  const int start = conditioning.start_step;
  const int total = static_cast<int>(sampler->timesteps().size());
  if (start < 0 || start > total) {
    throw InternalError("VideoGenerator: start step " + std::to_string(start) + " outside 0.." + std::to_string(total));
  }
  // Known frames of a clip operation go in as each model was trained to take
  // given frames. A TI2V DiT learnt clean frames with timestep 0 on their
  // tokens (its first-frame mask2, trap 13), so they are held the same way.
  // Other DiTs never saw a clean frame beside noisy ones: their known frames
  // are put back noised to the sampler's sigma (latent replacement).
  const bool ti2v = config.model_type == "ti2v";
  const bool replace = conditioning.known.defined() && !ti2v;
  const bool hold_known = conditioning.known.defined() && ti2v;
  const bool hold = conditioning.first_frame.defined() || hold_known;
  const bool per_token = ti2v;
  at::Tensor mask = per_token || hold ? first_frame_mask(shape, conditioning.first_frame.defined(), on_device)
                                      : at::Tensor();
  at::Tensor held = conditioning.first_frame.defined() ? conditioning.first_frame.to(device_, at::kFloat) : at::Tensor();
  if (hold_known) {
    const at::Tensor known_mask = conditioning.known_mask.to(device_, at::kFloat);
    mask = mask * (1.0 - known_mask);
    at::Tensor known = conditioning.known.to(device_, at::kFloat).clone();
    if (held.defined()) known.narrow(1, 0, 1).copy_(held);
    held = known;
  }
  const at::Tensor y = conditioning.y.defined() ? conditioning.y.to(device_, at::kFloat) : at::Tensor();

  const at::Tensor run_noise = noise.to(device_, at::kFloat);
  const at::Tensor known = replace ? conditioning.known.to(device_, at::kFloat) : at::Tensor();
  const at::Tensor known_mask = replace ? conditioning.known_mask.to(device_, at::kFloat) : at::Tensor();
  const auto sigma_at = [&](int index) { return static_cast<double>(sampler->sigmas()[static_cast<size_t>(index)]); };
  at::Tensor latent = run_noise;
  if (start > 0) {
    if (!conditioning.init.defined()) throw InternalError("VideoGenerator: a start step needs an init latent");
    sampler->start_at(start);
    latent = noised(conditioning.init.to(device_, at::kFloat), run_noise, sigma_at(start));
  }
  if (replace) latent = replace_known(latent, known, known_mask, run_noise, sigma_at(start));
  if (hold) latent = hold_first_frame(latent, held, mask);
  const std::vector<at::Tensor> contexts{context, context_null};
  // Nothing inside the loop waits for the device. The timestep tensors are
  // made once, before it, by fills on the device (no host-to-device copy);
  // the NaN/Inf guard is a flag on the device that the host reads every few
  // steps (the one synchronisation, see NonFiniteGuard). The model sees the
  // scheduler's int64 timestep as a float, not sigma * 1000.
  std::vector<at::Tensor> timesteps;
  std::vector<at::Tensor> token_timesteps;
  for (const int64_t timestep : sampler->timesteps()) {
    const at::Tensor t = at::full({1}, static_cast<double>(timestep), on_device);
    if (per_token) {
      const at::Tensor tokens = per_token_timesteps(mask, t, config.patch_size[1], config.patch_size[2], seq_len);
      token_timesteps.push_back(tokens);
      timesteps.push_back(tokens.expand({2, seq_len}));
    } else {
      timesteps.push_back(t.expand({2}));
    }
  }
  // The request field's rule has checked both texts; a caller below the
  // pipeline (a test, a tool) gets the flag's message.
  const sampling::GuidanceMethod method =
      core::parse_flag(sampling::parse_guidance_method, "--guidance-method", settings.guidance_method);
  const bool zero_star = method.kind == sampling::GuidanceKind::cfg_zero_star;
  sampling::AdaptiveProjectedGuidance apg(method.apg);
  // One step cache per expert and kind of pass: the full one (a batch of
  // cond and uncond, or cond alone) and skip-layer guidance's pass with
  // blocks skipped, whose residuals differ. MagCache's serves every expert,
  // as its counters run over the whole schedule in the reference.
  const dit::StepCacheSpec cache_spec = core::parse_flag(dit::parse_step_cache, "--cache", settings.cache);
  dit::StepCacheRender cache_render;
  cache_render.steps = total;
  cache_render.from_image = conditioning.first_frame.defined();
  if (experts_.size() > 1) {
    for (const int64_t timestep : sampler->timesteps()) cache_render.high_noise_steps += expert_for(timestep) == 0;
  }
  std::map<std::pair<std::size_t, bool>, std::unique_ptr<dit::StepCache>> caches;
  const auto cache_for = [&](std::size_t expert, bool skipping, int step,
                             std::vector<dit::PassRow> rows) -> dit::StepCache* {
    if (!cache_spec.enabled() && !calibration_) return nullptr;
    const std::size_t owner = dit::shared_across_experts(cache_spec) ? 0 : expert;
    auto& cache = caches[{owner, skipping}];
    if (!cache) {
      cache = calibration_ ? calibration_->recorder(total)
                           : dit::make_step_cache(cache_spec, step_cache_tables_, cache_render);
    }
    cache->begin_pass(step, std::move(rows));
    return cache.get();
  };
  using dit::PassRow;
  NonFiniteGuard guard(device_, total);
  for (int i = start; i < total; ++i) {
    const std::size_t step = static_cast<std::size_t>(i);
    const int64_t timestep = sampler->timesteps()[step];
    const std::size_t expert = expert_for(timestep);
    const dit::WanModel& model = ready(expert);
    // The reference picks guide_scale[1] with the high-noise expert.
    const double guidance =
        expert == 0 && experts_.size() > 1 ? settings.guidance_high.value_or(settings.guidance) : settings.guidance;
    const at::Tensor input = y.defined() ? at::cat({latent, y}, 0) : latent;
    // Guidance 1 is the conditional prediction alone (uncond + 1 * (cond -
    // uncond)): the unconditional half of the batch is skipped, which halves
    // the step for distilled models (lightx2v) run without CFG. A trace
    // (parity tests, debugging) gets both halves and the reference's
    // arithmetic, whose uncond + (cond - uncond) differs from cond by rounding.
    // Skip-layer guidance runs passes of one sample with blocks skipped:
    // slg's unconditional pass, slg-sd35's third, conditional one.
    std::vector<at::Tensor> predictions;
    at::Tensor velocity;
    const at::Tensor one_timestep = timesteps[step].narrow(0, 0, 1);
    const bool skip_layers = method.skips_layers_at(i, total);
    const std::vector<int> all_blocks;
    const bool slg_pair = skip_layers && method.kind == sampling::GuidanceKind::slg;
    const auto guide = [&](const at::Tensor& cond, const at::Tensor& uncond) {
      if (zero_star) return sampling::cfg_zero_star(cond, uncond, guidance);
      if (method.kind == sampling::GuidanceKind::apg) return apg.guide_velocity(cond, uncond, latent, sigma_at(i), guidance);
      return sampling::classifier_free_guidance(cond, uncond, guidance);
    };
    if (guidance == 1.0 && !trace) {
      predictions = model->forward({input}, one_timestep, {context}, seq_len, nullptr, all_blocks,
                                   cache_for(expert, false, i, {PassRow::cond}));
      velocity = predictions[0];
    } else if (split_.gather) {
      // CFG parallelism: this process's half of the pair, the other's
      // through the gather.
      const int half = split_.half;
      const bool skipping = slg_pair && half == 1;
      const at::Tensor mine =
          model
              ->forward({input}, timesteps[step].narrow(0, half, 1), {contexts[half]}, seq_len, nullptr,
                        skipping ? method.slg.layers : all_blocks,
                        cache_for(expert, skipping, i, {half == 0 ? PassRow::cond : PassRow::uncond}))
              .front();
      predictions = split_.gather(mine);
      if (predictions.size() != 2) throw InternalError("VideoGenerator: the CFG gather returned " +
                                                       std::to_string(predictions.size()) + " halves, not 2");
      velocity = guide(predictions[0], predictions[1]);
    } else if (slg_pair) {
      predictions = {model
                         ->forward({input}, one_timestep, {context}, seq_len, nullptr, all_blocks,
                                   cache_for(expert, false, i, {PassRow::cond}))
                         .front(),
                     model
                         ->forward({input}, one_timestep, {context_null}, seq_len, nullptr, method.slg.layers,
                                   cache_for(expert, true, i, {PassRow::uncond}))
                         .front()};
      velocity = guide(predictions[0], predictions[1]);
    } else {
      predictions = model->forward({input, input}, timesteps[step], contexts, seq_len, nullptr, all_blocks,
                                   cache_for(expert, false, i, {PassRow::cond, PassRow::uncond}));
      velocity = guide(predictions[0], predictions[1]);
    }
    if (skip_layers && method.kind == sampling::GuidanceKind::slg_sd35) {
      const at::Tensor skipped = model
                                     ->forward({input}, one_timestep, {context}, seq_len, nullptr, method.slg.layers,
                                               cache_for(expert, true, i, {PassRow::cond}))
                                     .front();
      velocity = sampling::skip_layer_guidance(velocity, predictions[0], skipped, method.slg.scale);
    }
    // CFG-Zero*'s zero init: the first step of a render from noise moves
    // nothing (the paper's zero_init_steps = 0), where the early velocity
    // estimate is least accurate.
    if (zero_star && i == 0) velocity = at::zeros_like(velocity);
    if (preview.every > 0 && (i + 1 - start) % preview.every == 0 && i + 1 < total) {
      // The frames the conditioning holds are known exactly; the model's
      // estimate of them is whatever its timestep-0 tokens predict.
      at::Tensor x0 = latent - sigma_at(i) * velocity;
      if (replace) x0 = replace_known(x0, known, known_mask, run_noise, 0.0);
      if (hold) x0 = hold_first_frame(x0, held, mask);
      preview.show(x0, i + 1 - start, total - start);
    }
    const at::Tensor sampled = sampler->step(velocity, timestep, latent);
    // TI2V: frame 0 goes back to the image's latent after every step, and the
    // sampler's next `sample` is that re-blended latent (trap 13). The known
    // frames of a replacement go back the same way, at the next sigma.
    latent = replace ? replace_known(sampled, known, known_mask, run_noise, sigma_at(i + 1)) : sampled;
    if (hold) latent = hold_first_frame(latent, held, mask);
    if (trace) {
      trace({i, timestep, predictions[0], predictions[1], latent, sampled,
             per_token ? token_timesteps[step] : at::Tensor(), expert, guidance});
    }
    guard.record(latent, i);
    if (on_step) on_step(i + 1 - start, total - start);
    if (cancel && cancel->load() && i + 1 < total) {
      guard.check();
      throw InterruptedError("interrupted after denoising step " + std::to_string(i + 1) + "/" + std::to_string(total));
    }
  }
  guard.check();
  if (preview.every > 0) preview.show(latent, total - start, total - start);
  last_cache_count_ = {};
  for (const auto& [key, cache] : caches) {
    last_cache_count_.passes += cache->passes();
    last_cache_count_.reused += cache->reused();
  }
  if (park_ && on_device_) {
    experts_[*on_device_].model->to(c10::Device(c10::kCPU));
    on_device_.reset();
  }
  return latent;
}

at::Tensor VideoGenerator::encode_video(const at::Tensor& video) {
  const OnDevice vae_on_device(vae_.module(), device_, park_);
  return vae_.encode(video.unsqueeze(0).to(device_, at::kFloat)).squeeze(0);
}

at::Tensor VideoGenerator::first_frame_latent(const at::Tensor& rgb_u8) {
  return encode_video(image_to_signed_tensor(rgb_u8).unsqueeze(1));
}

VideoGenerator::ImageCondition VideoGenerator::image_condition(const at::Tensor& first_u8,
                                                               const std::optional<at::Tensor>& last_u8,
                                                               int64_t frames, int64_t max_area) {
  const int64_t stride = vae_.spatial_factor();
  const int64_t patch = dit()->config().patch_size[1];
  ImageCondition out;
  std::tie(out.lat_h, out.lat_w) = i2v_latent_size(first_u8.size(0), first_u8.size(1), max_area, stride, patch);
  const int64_t height = out.lat_h * stride;
  const int64_t width = out.lat_w * stride;
  out.first = resize_bicubic(image_to_signed_tensor(first_u8), height, width);
  std::optional<at::Tensor> last;
  if (last_u8) last = resize_bicubic(image_to_signed_tensor(*last_u8), height, width);
  const at::Tensor latent = encode_video(i2v_condition_video(out.first, last, frames));
  const at::Tensor mask = i2v_mask(frames, out.lat_h, out.lat_w, last.has_value(), latent.options());
  out.y = at::cat({mask, latent}, 0);
  return out;
}

void VideoGenerator::set_preview_decoder(vae::TinyDecoder decoder) {
  preview_decoder_ = std::move(decoder);
  preview_decoder_->to(device_);
}

at::Tensor VideoGenerator::decode_fast(const at::Tensor& latent) {
  if (preview_decoder_.is_empty()) throw InternalError("VideoGenerator: no preview decoder to decode with");
  const int64_t frames = preview_decoder_->config().frames_for_latents(latent.size(1));
  const int64_t factor = preview_decoder_->config().spatial_factor();
  at::Tensor video = at::empty({3, frames, latent.size(2) * factor, latent.size(3) * factor}, at::kFloat);
  int64_t filled = 0;
  // Each frame goes to the host as it comes, as decode() does.
  preview_decoder_->decode_frames(latent.unsqueeze(0).to(device_, at::kFloat),
                                  [&](const at::Tensor& frame, int64_t index) {
                                    video.select(1, index).copy_(frame.squeeze(0).mul(2.0).sub(1.0));
                                    filled = index + 1;
                                  });
  if (filled != frames) {
    throw InternalError("preview decode produced " + std::to_string(filled) + " frames, expected " +
                        std::to_string(frames));
  }
  return video;
}

at::Tensor VideoGenerator::decode(const at::Tensor& latent, const vae::TileOptions& tiling) {
  const OnDevice vae_on_device(vae_.module(), device_, park_);
  // The decoded video comes back clamped. Each chunk of frames goes to the
  // host as soon as it is decoded, so the device holds one chunk at a time,
  // whatever the frame count.
  const int64_t frames = (latent.size(1) - 1) * vae_.temporal_factor() + 1;
  const int64_t factor = vae_.spatial_factor();
  at::Tensor video = at::empty({3, frames, latent.size(2) * factor, latent.size(3) * factor}, at::kFloat);
  vae::TileOptions tiles = tiling;
  if (tiles.enabled()) tiles.share = decode_share_;
  int64_t filled = 0;
  vae_.decode_frames(
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
      tiles);
  if (filled != frames) {
    throw InternalError("VAE decode produced " + std::to_string(filled) + " frames, expected " +
                        std::to_string(frames));
  }
  return video;
}

}  // namespace soragen::pipeline
