#include "vae/wan_vae.h"

#include <torch/nn/module.h>

#include <string>
#include <utility>
#include <vector>

#include "io/state_dict.h"
#include "soragen/error.h"
#include "vae/key_maps.h"

namespace soragen::vae {
namespace {

void check_video(const at::Tensor& x, int64_t channels, const char* what) {
  if (x.dim() != 5 || x.size(1) != channels) {
    throw InternalError(std::string("WanVAE: ") + what + " must be [B, " + std::to_string(channels) +
                        ", T, H, W], got " + io::format_shape(x.sizes()));
  }
}

}  // namespace

WanVAEImpl::WanVAEImpl(VaeConfig config) : config_(std::move(config)) {
  config_.validate("WanVAE config");
  const std::array<int64_t, 3> k1{1, 1, 1}, p0{0, 0, 0};
  const int64_t z = config_.z_dim;
  encoder = register_module("encoder", Encoder3d(config_));
  conv1 = register_module("conv1", CausalConv3d(2 * z, 2 * z, k1, k1, p0, nullptr));
  conv2 = register_module("conv2", CausalConv3d(z, z, k1, k1, p0, nullptr));
  decoder = register_module("decoder", Decoder3d(config_));
  scale_ = LatentScale(config_.latents_mean, config_.latents_std);
}

c10::ScalarType WanVAEImpl::dtype() const { return conv2->weight.scalar_type(); }

void WanVAEImpl::load_weights(const io::TensorSource& source, const Logger& log,
                              std::optional<c10::ScalarType> dtype) {
  VaeLoadOptions options;
  options.dtype = dtype;
  load_weights(source, detect_vae_layout(source), log, options);
}

void WanVAEImpl::load_weights(const io::TensorSource& source, VaeLayout layout, const Logger& log,
                              const VaeLoadOptions& options) {
  const io::KeyMap map = vae_key_map(layout, config_);
  io::LoadOptions load;
  load.key_map = &map;
  load.dtype = options.dtype;
  load.unexpected_is_error = options.strict_weights;
  const io::LoadReport report = io::load_state_dict(*this, source, log, load);
  log.debug(source.error_prefix() + "loaded " + std::to_string(report.loaded) + " VAE tensors (" +
            layout_name(layout) + " layout)");
}

WanVAE load_vae(const io::TensorSource& source, VaeLayout layout, const VaeConfig& config, const Logger& log,
                const VaeLoadOptions& options) {
  WanVAE vae(config);
  vae->load_weights(source, layout, log, options);
  return vae;
}

at::Tensor WanVAEImpl::normalize_latent(const at::Tensor& mu) const {
  return scale_.normalize(mu);
}

at::Tensor WanVAEImpl::denormalize_latent(const at::Tensor& z) const {
  return scale_.denormalize(z);
}

WanVAEImpl::Moments WanVAEImpl::encode_moments(const at::Tensor& video, const StageHook* hook) {
  // video: [B, 3, 1+4k, H, W] -> mu, log_var: [B, z_dim, 1+k, H/8, W/8]
  check_video(video, 3, "video");
  const int64_t frames = video.size(2);
  const int64_t factor = config_.spatial_factor();
  if ((frames - 1) % 4 != 0) {
    throw InternalError("WanVAE: encode needs 1+4k frames, got " + std::to_string(frames));
  }
  if (video.size(3) % factor != 0 || video.size(4) % factor != 0) {
    throw InternalError("WanVAE: encode needs height and width divisible by " + std::to_string(factor) +
                        ", got " + std::to_string(video.size(3)) + "x" + std::to_string(video.size(4)));
  }
  const at::Tensor x = video.to(conv1->weight.device(), dtype());
  FeatureCache cache(encoder->cache_slots());
  std::vector<at::Tensor> outputs;
  // Frame 0 alone, then chunks of 4: the temporal downsamples treat the first chunk apart.
  outputs.push_back(encoder->forward(x.narrow(2, 0, 1), cache, hook));
  for (int64_t start = 1; start < frames; start += 4) outputs.push_back(encoder->forward(x.narrow(2, start, 4), cache, hook));
  const at::Tensor moments = conv1->forward(at::cat(outputs, 2)).to(at::kFloat);
  const int64_t z = config_.z_dim;
  return Moments{moments.narrow(1, 0, z), moments.narrow(1, z, z)};
}

at::Tensor WanVAEImpl::encode(const at::Tensor& video, const StageHook* hook) {
  return normalize_latent(encode_moments(video, hook).mu);
}

void WanVAEImpl::decode_frames(const at::Tensor& z, const FrameChunkCallback& on_frames,
                               const DecodeOptions& options) {
  // z: [B, z_dim, F, h, w] -> chunks [B, 3, 1 or 4, 8h, 8w] in order
  check_video(z, config_.z_dim, "latent");
  const at::Tensor latent = denormalize_latent(z.to(conv2->weight.device(), at::kFloat)).to(dtype());
  const at::Tensor x = conv2->forward(latent);
  int64_t produced = 0;
  const FrameChunkCallback emit = [&](const at::Tensor& chunk, int64_t) {
    at::Tensor out = chunk.to(at::kFloat);
    if (options.clamp) out = out.clamp(-1.0, 1.0);
    on_frames(out, produced);
    produced += out.size(2);
  };
  const bool tiled = options.tiling.enabled() &&
                     (x.size(3) > options.tiling.tile || x.size(4) > options.tiling.tile);
  if (tiled) {
    decode_tiled(x, options.tiling, emit);
  } else {
    decode_untiled(x, emit, options.hook);
  }
}

void WanVAEImpl::decode_untiled(const at::Tensor& x, const FrameChunkCallback& emit, const StageHook* hook) {
  FeatureCache cache(decoder->cache_slots());
  for (int64_t i = 0; i < x.size(2); ++i) emit(decoder->forward(x.narrow(2, i, 1), cache, hook), 0);
}

void WanVAEImpl::decode_tiled(const at::Tensor& x, const TileOptions& tiling, const FrameChunkCallback& emit) {
  const int64_t factor = config_.spatial_factor();
  const std::vector<Span> rows = tile_spans(x.size(3), tiling.tile, tiling.overlap);
  const std::vector<Span> cols = tile_spans(x.size(4), tiling.tile, tiling.overlap);
  struct Tile {
    Span row, col;
    at::Tensor weight;  // [1, 1, 1, rows*8, cols*8]
    FeatureCache cache;
  };
  // Every tile's ramps make the blend's divisor; this rank keeps only its
  // own tiles (and their caches).
  const TileShare& share = tiling.share;
  std::vector<Tile> tiles;
  at::Tensor weight_sum = at::zeros({1, 1, 1, x.size(3) * factor, x.size(4) * factor}, at::kFloat);
  int64_t index = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    for (size_t c = 0; c < cols.size(); ++c, ++index) {
      const at::Tensor w = at::outer(axis_ramp(rows, r, factor), axis_ramp(cols, c, factor)).view(
          {1, 1, 1, rows[r].size() * factor, cols[c].size() * factor});
      weight_sum.narrow(3, rows[r].begin * factor, rows[r].size() * factor)
          .narrow(4, cols[c].begin * factor, cols[c].size() * factor)
          .add_(w);
      if (index % share.ranks != share.rank) continue;
      tiles.push_back(Tile{rows[r], cols[c], w.to(x.device()), FeatureCache(decoder->cache_slots())});
    }
  }
  weight_sum = weight_sum.to(x.device());
  for (int64_t i = 0; i < x.size(2); ++i) {
    const at::Tensor frame = x.narrow(2, i, 1);
    // The first latent frame decodes to one frame, each later one to
    // temporal_factor frames (a rank without tiles still adds its zeros).
    const int64_t frames = i == 0 ? 1 : config_.temporal_factor();
    at::Tensor blended = at::zeros({x.size(0), 3, frames, x.size(3) * factor, x.size(4) * factor},
                                   x.options().dtype(at::kFloat));
    for (Tile& tile : tiles) {
      const at::Tensor input = frame.narrow(3, tile.row.begin, tile.row.size()).narrow(4, tile.col.begin, tile.col.size());
      const at::Tensor out = decoder->forward(input, tile.cache).to(at::kFloat);
      if (out.size(2) != frames) {
        throw InternalError("VAE tiled decode: latent frame " + std::to_string(i) + " gave " +
                            std::to_string(out.size(2)) + " frames, expected " + std::to_string(frames));
      }
      blended.narrow(3, tile.row.begin * factor, tile.row.size() * factor)
          .narrow(4, tile.col.begin * factor, tile.col.size() * factor)
          .add_(out * tile.weight);
    }
    if (share.ranks > 1) blended = share.sum(blended);
    emit(blended.div_(weight_sum), 0);
  }
}

at::Tensor WanVAEImpl::decode(const at::Tensor& z, const DecodeOptions& options) {
  std::vector<at::Tensor> chunks;
  decode_frames(z, [&](const at::Tensor& frames, int64_t) { chunks.push_back(frames); }, options);
  return at::cat(chunks, 2);
}

}  // namespace soragen::vae
