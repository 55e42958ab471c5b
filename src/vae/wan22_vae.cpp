#include "vae/wan22_vae.h"

#include <array>
#include <string>
#include <utility>
#include <vector>

#include "io/state_dict.h"
#include "soragen/error.h"
#include "vae/key_maps.h"
#include "vae/patchify.h"

namespace soragen::vae {
namespace {

void check_video(const at::Tensor& x, int64_t channels, const char* what) {
  if (x.dim() != 5 || x.size(1) != channels) {
    throw InternalError(std::string("WanVAE22: ") + what + " must be [B, " + std::to_string(channels) +
                        ", T, H, W], got " + io::format_shape(x.sizes()));
  }
}

// The Wan2.2 stages nest their blocks one level deeper than Wan2.1's flat
// lists (decoder.upsamples.0.upsamples.0..., diffusers' up_blocks.0.upsampler
// where Wan2.1 has up_blocks.0.upsamplers.0), which tells the two apart.
void check_is_wan22(const io::TensorSource& source, VaeLayout layout) {
  struct Marker {
    const char* wan22;
    const char* wan21;
  };
  const Marker marker = [&]() -> Marker {
    switch (layout) {
      case VaeLayout::comfy_checkpoint:
        return {"first_stage_model.decoder.upsamples.0.upsamples.0.residual.0.gamma",
                "first_stage_model.decoder.upsamples.0.residual.0.gamma"};
      case VaeLayout::diffusers:
        return {"decoder.up_blocks.0.upsampler.resample.1.weight",
                "decoder.up_blocks.0.upsamplers.0.resample.1.weight"};
      case VaeLayout::official:
        break;
    }
    return {"decoder.upsamples.0.upsamples.0.residual.0.gamma", "decoder.upsamples.0.residual.0.gamma"};
  }();
  if (source.contains(marker.wan22)) return;
  const std::string hint =
      source.contains(marker.wan21) ? std::string(" (it has ") + marker.wan21 + ": a Wan2.1 VAE?)" : "";
  throw ModelError(source.error_prefix() + "not a Wan2.2 VAE in " + layout_name(layout) + " names: " + marker.wan22 +
                   " not found" + hint);
}

}  // namespace

WanVAE22Impl::WanVAE22Impl(Vae22Config config) : config_(std::move(config)) {
  config_.validate("WanVAE22 config");
  const std::array<int64_t, 3> k1{1, 1, 1}, p0{0, 0, 0};
  const int64_t z = config_.common.z_dim;
  encoder = register_module("encoder", Encoder22(config_));
  conv1 = register_module("conv1", CausalConv3d(2 * z, 2 * z, k1, k1, p0, nullptr));
  conv2 = register_module("conv2", CausalConv3d(z, z, k1, k1, p0, nullptr));
  decoder = register_module("decoder", Decoder22(config_));
  scale_ = LatentScale(config_.common.latents_mean, config_.common.latents_std);
}

c10::ScalarType WanVAE22Impl::dtype() const { return conv2->weight.scalar_type(); }

void WanVAE22Impl::load_weights(const io::TensorSource& source, const Logger& log,
                                std::optional<c10::ScalarType> dtype) {
  VaeLoadOptions options;
  options.dtype = dtype;
  load_weights(source, detect_vae_layout(source), log, options);
}

void WanVAE22Impl::load_weights(const io::TensorSource& source, VaeLayout layout, const Logger& log,
                                const VaeLoadOptions& options) {
  check_is_wan22(source, layout);
  const io::KeyMap map = vae22_key_map(layout, config_);
  io::LoadOptions load;
  load.key_map = &map;
  load.dtype = options.dtype;
  load.unexpected_is_error = options.strict_weights;
  const io::LoadReport report = io::load_state_dict(*this, source, log, load);
  log.debug(source.error_prefix() + "loaded " + std::to_string(report.loaded) + " Wan2.2 VAE tensors (" +
            layout_name(layout) + " layout)");
}

WanVAE22Impl::Moments WanVAE22Impl::encode_moments(const at::Tensor& video, const StageHook* hook) {
  // video: [B, 3, 1+4k, H, W] -> mu, log_var: [B, z_dim, 1+k, H/16, W/16]
  check_video(video, 3, "video");
  const int64_t frames = video.size(2);
  const int64_t factor = config_.spatial_factor();
  if ((frames - 1) % 4 != 0) {
    throw InternalError("WanVAE22: encode needs 1+4k frames, got " + std::to_string(frames));
  }
  if (video.size(3) % factor != 0 || video.size(4) % factor != 0) {
    throw InternalError("WanVAE22: encode needs height and width divisible by " + std::to_string(factor) +
                        ", got " + std::to_string(video.size(3)) + "x" + std::to_string(video.size(4)));
  }
  const at::Tensor x = video.to(conv1->weight.device(), dtype());
  FeatureCache cache(encoder->cache_slots());
  std::vector<at::Tensor> outputs;
  // Frame 0 alone, then chunks of 4 (the temporal downsamples and AvgDown3D
  // treat the 1-frame first chunk apart). Patchify is per frame, so
  // patchifying each chunk equals chunking the patchified video.
  const auto run = [&](int64_t start, int64_t length) {
    const at::Tensor chunk = patchify(x.narrow(2, start, length), config_.patch_size);
    if (hook && *hook) (*hook)("patchified", chunk);
    outputs.push_back(encoder->forward(chunk, cache, hook));
  };
  run(0, 1);
  for (int64_t start = 1; start < frames; start += 4) run(start, 4);
  const at::Tensor moments = conv1->forward(at::cat(outputs, 2)).to(at::kFloat);
  const int64_t z = config_.common.z_dim;
  return Moments{moments.narrow(1, 0, z), moments.narrow(1, z, z)};
}

at::Tensor WanVAE22Impl::encode(const at::Tensor& video, const StageHook* hook) {
  return normalize_latent(encode_moments(video, hook).mu);
}

void WanVAE22Impl::decode_frames(const at::Tensor& z, const FrameChunkCallback& on_frames,
                                 const Vae22DecodeOptions& options) {
  // z: [B, z_dim, F, h, w] -> chunks [B, 3, 1 or 4, 16h, 16w] in order
  check_video(z, config_.common.z_dim, "latent");
  const at::Tensor latent = denormalize_latent(z.to(conv2->weight.device(), at::kFloat)).to(dtype());
  // conv2 is 1x1x1, so running it on all latent frames at once (as the
  // reference does) costs only latent-sized memory.
  const at::Tensor x = conv2->forward(latent);
  if (options.hook && *options.hook) (*options.hook)("conv2", x);
  FeatureCache cache(decoder->cache_slots());
  int64_t produced = 0;
  for (int64_t i = 0; i < x.size(2); ++i) {
    // The first call with a fresh cache is the reference's first_chunk.
    const at::Tensor chunk = decoder->forward(x.narrow(2, i, 1), cache, options.hook);
    at::Tensor out = unpatchify(chunk, config_.patch_size).to(at::kFloat);
    if (options.clamp) out = out.clamp(-1.0, 1.0);
    on_frames(out, produced);
    produced += out.size(2);
  }
}

at::Tensor WanVAE22Impl::decode(const at::Tensor& z, const Vae22DecodeOptions& options) {
  std::vector<at::Tensor> chunks;
  decode_frames(z, [&](const at::Tensor& frames, int64_t) { chunks.push_back(frames); }, options);
  return at::cat(chunks, 2);
}

WanVAE22 load_vae22(const io::TensorSource& source, VaeLayout layout, const Vae22Config& config, const Logger& log,
                    const VaeLoadOptions& options) {
  WanVAE22 model(config);
  model->load_weights(source, layout, log, options);
  return model;
}

}  // namespace soragen::vae
