#include "vae/wan22_modules.h"

#include <torch/nn/modules/activation.h>

#include <array>
#include <string>
#include <vector>

#include "io/tensor_source.h"
#include "soragen/error.h"

namespace soragen::vae {
namespace {

const std::array<int64_t, 3> k3{3, 3, 3}, s1{1, 1, 1}, p1{1, 1, 1};

}  // namespace

// ---------------------------------------------------------------- shortcuts

at::Tensor avg_down_3d(const at::Tensor& x, int64_t out_channels, int64_t factor_t, int64_t factor_s) {
  const int64_t factor = factor_t * factor_s * factor_s;
  if (x.dim() != 5 || (x.size(1) * factor) % out_channels != 0 || x.size(3) % factor_s != 0 ||
      x.size(4) % factor_s != 0) {
    throw InternalError("AvgDown3D: " + io::format_shape(x.sizes()) + " does not fold by (" +
                        std::to_string(factor_t) + ", " + std::to_string(factor_s) + ") into " +
                        std::to_string(out_channels) + " channels");
  }
  const int64_t pad_t = (factor_t - x.size(2) % factor_t) % factor_t;
  const at::Tensor padded = pad_t ? at::constant_pad_nd(x, {0, 0, 0, 0, pad_t, 0}) : x;
  const int64_t b = padded.size(0), c = padded.size(1);
  const int64_t t = padded.size(2) / factor_t, h = padded.size(3) / factor_s, w = padded.size(4) / factor_s;
  // dims of the view: b c t ft h fs w fs -> b c ft fs(h) fs(w) t h w
  return padded.reshape({b, c, t, factor_t, h, factor_s, w, factor_s})
      .permute({0, 1, 3, 5, 7, 2, 4, 6})
      .reshape({b, out_channels, c * factor / out_channels, t, h, w})
      .mean(2);
}

at::Tensor dup_up_3d(const at::Tensor& x, int64_t out_channels, int64_t factor_t, int64_t factor_s,
                     bool first_chunk) {
  const int64_t factor = factor_t * factor_s * factor_s;
  if (x.dim() != 5 || (out_channels * factor) % x.size(1) != 0) {
    throw InternalError("DupUp3D: " + io::format_shape(x.sizes()) + " does not unfold by (" +
                        std::to_string(factor_t) + ", " + std::to_string(factor_s) + ") into " +
                        std::to_string(out_channels) + " channels");
  }
  const int64_t b = x.size(0), t = x.size(2), h = x.size(3), w = x.size(4);
  const at::Tensor repeated = x.repeat_interleave(out_channels * factor / x.size(1), 1);
  // dims of the view: b c ft fs fs t h w -> b c t ft h fs w fs
  at::Tensor y = repeated.reshape({b, out_channels, factor_t, factor_s, factor_s, t, h, w})
                     .permute({0, 1, 5, 2, 6, 3, 7, 4})
                     .reshape({b, out_channels, t * factor_t, h * factor_s, w * factor_s});
  if (first_chunk && factor_t > 1) y = y.narrow(2, factor_t - 1, y.size(2) - (factor_t - 1));
  return y;
}

// ---------------------------------------------------------------- stages

DownResidualBlockImpl::DownResidualBlockImpl(int64_t in, int64_t out, int64_t blocks, bool temporal, bool down,
                                             SlotCounter* slots)
    : out_(out), factor_t_(temporal ? 2 : 1), factor_s_(down ? 2 : 1) {
  downsamples_.init(*this, "downsamples");
  for (int64_t r = 0; r < blocks; ++r) {
    downsamples_.push_back(ResidualBlock(in, out, slots));
    in = out;
  }
  if (down) {
    const auto mode = temporal ? ResampleImpl::Mode::downsample3d : ResampleImpl::Mode::downsample2d;
    downsamples_.push_back(Resample(out, mode, slots));
  }
}

at::Tensor DownResidualBlockImpl::forward(const at::Tensor& x, FeatureCache& cache) {
  // x: [B, Cin, T, H, W] -> [B, Cout, T', H/fs, W/fs]
  at::Tensor y = x;
  for (size_t i = 0; i < downsamples_.size(); ++i) y = downsamples_[i].forward(y, cache);
  return y + avg_down_3d(x, out_, factor_t_, factor_s_);
}

UpResidualBlockImpl::UpResidualBlockImpl(int64_t in, int64_t out, int64_t blocks, bool temporal, bool up,
                                         SlotCounter* slots)
    : out_(out), factor_t_(temporal ? 2 : 1), factor_s_(up ? 2 : 0), slot_(slots->take()) {
  upsamples_.init(*this, "upsamples");
  for (int64_t r = 0; r < blocks; ++r) {
    upsamples_.push_back(ResidualBlock(in, out, slots));
    in = out;
  }
  if (up) {
    const auto mode = temporal ? ResampleImpl::Mode::upsample3d : ResampleImpl::Mode::upsample2d;
    upsamples_.push_back(Resample(out, mode, slots, ResampleImpl::UpWidth::same));
  }
}

at::Tensor UpResidualBlockImpl::forward(const at::Tensor& x, FeatureCache& cache) {
  // x: [B, Cin, t, h, w] -> [B, Cout, t * ft (minus ft-1 on the first chunk), h*fs, w*fs]
  FeatureCache::Slot& slot = cache.at(slot_);
  const bool first_chunk = !slot.seen;
  slot.seen = true;
  at::Tensor y = x;
  for (size_t i = 0; i < upsamples_.size(); ++i) y = upsamples_[i].forward(y, cache);
  if (factor_s_ == 0) return y;
  return y + dup_up_3d(x, out_, factor_t_, factor_s_, first_chunk);
}

// ---------------------------------------------------------------- Encoder / Decoder

Encoder22Impl::Encoder22Impl(const Vae22Config& config) {
  const VaeConfig& c = config.common;
  std::vector<int64_t> dims{c.dim};
  for (int64_t m : c.dim_mult) dims.push_back(c.dim * m);
  const size_t stages = c.dim_mult.size();

  conv1 = register_module("conv1", CausalConv3d(config.patch_channels(), dims[0], k3, s1, p1, &slots_));
  downsamples_.init(*this, "downsamples");
  for (size_t i = 0; i < stages; ++i) {
    // temperal_downsample has one entry per transition; the last stage has none.
    const bool down = i + 1 < stages;
    const bool temporal = down && c.temperal_downsample[i];
    downsamples_.push_back(DownResidualBlock(dims[i], dims[i + 1], c.num_res_blocks, temporal, down, &slots_));
  }
  build_middle(*this, middle_, dims.back(), &slots_);
  head = build_head(*this, dims.back(), 2 * c.z_dim, &slots_, &head_norm_, &head_conv_);
}


Decoder22Impl::Decoder22Impl(const Vae22Config& config) {
  const VaeConfig& c = config.common;
  const auto& mult = c.dim_mult;
  // dec_dim * [mult.back(), reversed mult...]: no halving (Wan2.2 trap 5).
  std::vector<int64_t> dims{config.dec_dim * mult.back()};
  for (auto it = mult.rbegin(); it != mult.rend(); ++it) dims.push_back(config.dec_dim * *it);
  const size_t stages = mult.size();

  conv1 = register_module("conv1", CausalConv3d(c.z_dim, dims[0], k3, s1, p1, &slots_));
  build_middle(*this, middle_, dims[0], &slots_);
  upsamples_.init(*this, "upsamples");
  for (size_t i = 0; i < stages; ++i) {
    // The decoder runs temperal_downsample reversed (trap 3).
    const bool up = i + 1 < stages;
    const bool temporal = up && c.temperal_downsample[stages - 2 - i];
    upsamples_.push_back(UpResidualBlock(dims[i], dims[i + 1], c.num_res_blocks + 1, temporal, up, &slots_));
  }
  head = build_head(*this, dims.back(), config.patch_channels(), &slots_, &head_norm_, &head_conv_);
}

}  // namespace soragen::vae
