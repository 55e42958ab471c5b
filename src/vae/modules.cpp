#include "vae/modules.h"

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>

#include <cmath>

#include "core/torch_compat.h"

namespace soragen::vae {
namespace {

// Keeps the last `frames` frames of x ([B,C,T,H,W]) as an owned copy, so the
// cache never pins the (much larger) tensor it was cut from.
at::Tensor last_frames(const at::Tensor& x, int64_t frames) {
  const int64_t keep = std::min<int64_t>(frames, x.size(2));
  return x.narrow(2, x.size(2) - keep, keep).clone();
}

// [B,C,T,H,W] -> [B*T,C,H,W] for the per-frame 2D layers.
at::Tensor to_frames(const at::Tensor& x) {
  return x.permute({0, 2, 1, 3, 4}).reshape({x.size(0) * x.size(2), x.size(1), x.size(3), x.size(4)});
}

// [B*T,C,H,W] -> [B,C,T,H,W].
at::Tensor from_frames(const at::Tensor& frames, int64_t batch) {
  const int64_t t = frames.size(0) / batch;
  return frames.reshape({batch, t, frames.size(1), frames.size(2), frames.size(3)}).permute({0, 2, 1, 3, 4});
}

bool in_scales(const std::vector<double>& scales, double scale) {
  for (double s : scales) {
    if (s == scale) return true;
  }
  return false;
}

}  // namespace

int64_t FeatureCache::bytes() const {
  int64_t total = 0;
  for (const auto& slot : slots_) {
    if (slot.tail.defined()) total += slot.tail.numel() * static_cast<int64_t>(slot.tail.element_size());
  }
  return total;
}

// ---------------------------------------------------------------- CausalConv3d

CausalConv3dImpl::CausalConv3dImpl(int64_t in, int64_t out, std::array<int64_t, 3> kernel,
                                   std::array<int64_t, 3> stride, std::array<int64_t, 3> padding,
                                   SlotCounter* slots)
    : stride_(stride), padding_(padding) {
  // PyTorch's default conv init bound (kaiming_uniform with a=sqrt(5)), so a
  // randomly initialised VAE (benchmarks) keeps sane activation scales.
  const double bound = 1.0 / std::sqrt(static_cast<double>(in * kernel[0] * kernel[1] * kernel[2]));
  weight = register_parameter("weight", at::empty({out, in, kernel[0], kernel[1], kernel[2]}).uniform_(-bound, bound));
  bias = register_parameter("bias", at::empty({out}).uniform_(-bound, bound));
  if (history_frames() > 0) {
    TORCH_CHECK(slots != nullptr, "a causal conv with temporal padding needs a cache slot");
    slot_ = slots->take();
  }
}

at::Tensor CausalConv3dImpl::forward(const at::Tensor& x, const at::Tensor& history) const {
  // x: [B, Cin, T, H, W]
  at::Tensor input = x;
  int64_t front = history_frames();
  if (history.defined() && front > 0) {
    input = at::cat({history.to(x.device(), x.scalar_type()), x}, 2);
    front -= history.size(2);
  }
  if (front > 0) input = at::constant_pad_nd(input, {0, 0, 0, 0, front, 0});
  return at::conv3d(input, weight, bias, {stride_[0], stride_[1], stride_[2]}, {0, padding_[1], padding_[2]});
}

at::Tensor CausalConv3dImpl::forward(const at::Tensor& x, FeatureCache& cache) const {
  if (history_frames() == 0) return forward(x);
  FeatureCache::Slot& slot = cache.at(slot_);
  // Joining first keeps one copy for both the conv input and the new tail;
  // the tail is the last frames of [old tail, x], as the reference's
  // "cache last frame of last two chunk" rule amounts to.
  const int64_t cached = slot.tail.defined() ? slot.tail.size(2) : 0;
  at::Tensor joined = cached ? at::cat({slot.tail, x}, 2) : x;
  slot.tail = last_frames(joined, history_frames());
  slot.seen = true;
  at::Tensor input = joined;
  if (history_frames() > cached) input = at::constant_pad_nd(joined, {0, 0, 0, 0, history_frames() - cached, 0});
  return at::conv3d(input, weight, bias, {stride_[0], stride_[1], stride_[2]}, {0, padding_[1], padding_[2]});
}

// ---------------------------------------------------------------- RMSNorm

RMSNormImpl::RMSNormImpl(int64_t dim, bool images) : scale_(std::sqrt(static_cast<double>(dim))) {
  gamma = register_parameter("gamma", images ? at::ones({dim, 1, 1}) : at::ones({dim, 1, 1, 1}));
}

at::Tensor RMSNormImpl::forward(const at::Tensor& x) const {
  // x: [B, C, ...] normalised over C. Reduced precision is lifted to fp32 for
  // the norm (the reference runs the VAE in fp32).
  const bool lift = x.scalar_type() != at::kFloat && x.scalar_type() != at::kDouble;
  const at::Tensor xf = lift ? x.to(at::kFloat) : x;
  const at::Tensor denom = xf.norm(2, {1}, /*keepdim=*/true).clamp_min(1e-12);
  at::Tensor y = xf / denom * scale_ * gamma.to(xf.scalar_type());
  return lift ? y.to(x.scalar_type()) : y;
}

// ---------------------------------------------------------------- blocks

void BlockList::init(torch::nn::Module& owner, const std::string& name) {
  list_ = owner.register_module(name, torch::nn::ModuleList());
}

ResidualBlockImpl::ResidualBlockImpl(int64_t in, int64_t out, SlotCounter* slots) {
  norm1_ = RMSNorm(in, /*images=*/false);
  conv1_ = CausalConv3d(in, out, std::array<int64_t, 3>{3, 3, 3}, std::array<int64_t, 3>{1, 1, 1},
                        std::array<int64_t, 3>{1, 1, 1}, slots);
  norm2_ = RMSNorm(out, /*images=*/false);
  conv2_ = CausalConv3d(out, out, std::array<int64_t, 3>{3, 3, 3}, std::array<int64_t, 3>{1, 1, 1},
                        std::array<int64_t, 3>{1, 1, 1}, slots);
  residual = register_module("residual", torch::nn::ModuleList());
  residual->push_back(norm1_);
  residual->push_back(torch::nn::SiLU());
  residual->push_back(conv1_);
  residual->push_back(norm2_);
  residual->push_back(torch::nn::SiLU());
  residual->push_back(torch::nn::Dropout());
  residual->push_back(conv2_);
  if (in != out) {
    shortcut_ = register_module("shortcut", CausalConv3d(in, out, std::array<int64_t, 3>{1, 1, 1},
                                                         std::array<int64_t, 3>{1, 1, 1},
                                                         std::array<int64_t, 3>{0, 0, 0}, nullptr));
  }
}

at::Tensor ResidualBlockImpl::forward(const at::Tensor& x, FeatureCache& cache) {
  // x: [B, Cin, T, H, W] -> [B, Cout, T, H, W]
  const at::Tensor h = shortcut_ ? shortcut_->forward(x) : x;
  at::Tensor y = conv1_->forward(at::silu(norm1_->forward(x)), cache);
  y = conv2_->forward(at::silu(norm2_->forward(y)), cache);
  return y + h;
}

AttentionBlockImpl::AttentionBlockImpl(int64_t dim) {
  norm = register_module("norm", RMSNorm(dim, /*images=*/true));
  to_qkv = register_module("to_qkv", torch::nn::Conv2d(torch::nn::Conv2dOptions(dim, dim * 3, 1)));
  proj = register_module("proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(dim, dim, 1)));
}

at::Tensor AttentionBlockImpl::forward(const at::Tensor& x, FeatureCache& /*cache*/) {
  // x: [B, C, T, H, W]; every frame attends over its own H*W positions.
  const int64_t batch = x.size(0), channels = x.size(1), height = x.size(3), width = x.size(4);
  const at::Tensor frames = norm->forward(to_frames(x));
  const int64_t n = frames.size(0);
  const at::Tensor qkv = to_qkv->forward(frames).reshape({n, 3 * channels, height * width}).transpose(1, 2);
  const std::vector<at::Tensor> parts = qkv.chunk(3, -1);  // q, k, v: [N, HW, C]
#if SORAGEN_TORCH_HAS_SDPA
  at::Tensor out = at::scaled_dot_product_attention(parts[0].unsqueeze(1), parts[1].unsqueeze(1),
                                                    parts[2].unsqueeze(1)).squeeze(1);
#else
  const double scale = 1.0 / std::sqrt(static_cast<double>(channels));
  at::Tensor scores = at::bmm(parts[0], parts[1].transpose(1, 2)).mul_(scale);
  at::Tensor out = at::bmm(at::softmax(scores, -1), parts[2]);
#endif
  out = proj->forward(out.transpose(1, 2).reshape({n, channels, height, width}));
  return from_frames(out, batch) + x;
}

ResampleImpl::ResampleImpl(int64_t dim, Mode mode, SlotCounter* slots, UpWidth up_width) : mode_(mode) {
  const bool up = mode == Mode::upsample2d || mode == Mode::upsample3d;
  resample = register_module("resample", torch::nn::ModuleList());
  // Index 0 (nearest upsample or ZeroPad2d) has no weights; Identity keeps the numbering.
  resample->push_back(torch::nn::Identity());
  const int64_t up_out = up_width == UpWidth::half ? dim / 2 : dim;
  conv_ = up ? torch::nn::Conv2d(torch::nn::Conv2dOptions(dim, up_out, 3).padding(1))
             : torch::nn::Conv2d(torch::nn::Conv2dOptions(dim, dim, 3).stride(2));
  resample->push_back(conv_);
  if (mode == Mode::upsample3d) {
    // Two output frames per input frame come out as 2*dim channels.
    time_conv = register_module("time_conv", CausalConv3d(dim, dim * 2, std::array<int64_t, 3>{3, 1, 1},
                                                          std::array<int64_t, 3>{1, 1, 1},
                                                          std::array<int64_t, 3>{1, 0, 0}, slots));
    slot_ = time_conv->slot();  // shared: `seen` marks the first latent frame
  } else if (mode == Mode::downsample3d) {
    time_conv = register_module("time_conv", CausalConv3d(dim, dim, std::array<int64_t, 3>{3, 1, 1},
                                                          std::array<int64_t, 3>{2, 1, 1},
                                                          std::array<int64_t, 3>{0, 0, 0}, nullptr));
    slot_ = slots->take();
  }
}

at::Tensor ResampleImpl::spatial(const at::Tensor& x) {
  // x: [B, C, T, H, W] -> [B, C', T, 2H, 2W] (up) or [B, C, T, H/2, W/2] (down)
  at::Tensor frames = to_frames(x);
  if (mode_ == Mode::upsample2d || mode_ == Mode::upsample3d) {
    // nearest-exact at an integer factor of 2 is plain nearest: pixel i -> i/2.
    const at::Tensor f = frames.scalar_type() == at::kFloat ? frames : frames.to(at::kFloat);
    frames = at::upsample_nearest2d(f, {2 * f.size(2), 2 * f.size(3)}).to(frames.scalar_type());
  } else {
    // ZeroPad2d((0, 1, 0, 1)): right and bottom only, then a stride-2 3x3 conv.
    frames = at::constant_pad_nd(frames, {0, 1, 0, 1});
  }
  return from_frames(conv_->forward(frames), x.size(0));
}

at::Tensor ResampleImpl::upsample_time(const at::Tensor& x, FeatureCache& cache) const {
  FeatureCache::Slot& slot = cache.at(slot_);
  // The first latent frame is not doubled, and it never enters the time
  // conv's window: the conv's history starts empty (zeros) at frame 1.
  if (!slot.seen) {
    slot.seen = true;
    return x;
  }
  const int64_t b = x.size(0), c = x.size(1), t = x.size(2), h = x.size(3), w = x.size(4);
  const at::Tensor y = time_conv->forward(x, cache);  // [B, 2C, T, H, W]
  // The first C channels are the earlier of each pair of output frames.
  return y.reshape({b, 2, c, t, h, w}).permute({0, 2, 3, 1, 4, 5}).reshape({b, c, 2 * t, h, w});
}

at::Tensor ResampleImpl::downsample_time(const at::Tensor& x, FeatureCache& cache) const {
  FeatureCache::Slot& slot = cache.at(slot_);
  // The first chunk (one frame) passes unchanged; later chunks are strided
  // over [last frame of the previous chunk, chunk]: 4 frames -> 2, 2 -> 1.
  if (!slot.seen) {
    slot.seen = true;
    slot.tail = last_frames(x, 1);
    return x;
  }
  const at::Tensor joined = at::cat({slot.tail, x}, 2);
  slot.tail = last_frames(x, 1);
  return time_conv->forward(joined);
}

at::Tensor ResampleImpl::forward(const at::Tensor& x, FeatureCache& cache) {
  switch (mode_) {
    case Mode::upsample2d:
    case Mode::downsample2d:
      return spatial(x);
    case Mode::upsample3d:
      return spatial(upsample_time(x, cache));
    case Mode::downsample3d:
      return downsample_time(spatial(x), cache);
  }
  return x;
}

torch::nn::ModuleList build_head(torch::nn::Module& owner, int64_t in, int64_t out, SlotCounter* slots,
                                 RMSNorm* norm, CausalConv3d* conv) {
  *norm = RMSNorm(in, /*images=*/false);
  const std::array<int64_t, 3> k3{3, 3, 3}, s1{1, 1, 1}, p1{1, 1, 1};
  *conv = CausalConv3d(in, out, k3, s1, p1, slots);
  auto head = owner.register_module("head", torch::nn::ModuleList());
  head->push_back(*norm);
  head->push_back(torch::nn::SiLU());
  head->push_back(*conv);
  return head;
}

void build_middle(torch::nn::Module& owner, BlockList& middle, int64_t dim, SlotCounter* slots) {
  middle.init(owner, "middle");
  middle.push_back(ResidualBlock(dim, dim, slots));
  middle.push_back(AttentionBlock(dim));
  middle.push_back(ResidualBlock(dim, dim, slots));
}

// ---------------------------------------------------------------- Encoder / Decoder

Encoder3dImpl::Encoder3dImpl(const VaeConfig& config) {
  std::vector<int64_t> dims{config.dim};
  for (int64_t m : config.dim_mult) dims.push_back(config.dim * m);
  const std::array<int64_t, 3> k3{3, 3, 3}, s1{1, 1, 1}, p1{1, 1, 1};

  conv1 = register_module("conv1", CausalConv3d(3, dims[0], k3, s1, p1, &slots_));
  downsamples_.init(*this, "downsamples");
  double scale = 1.0;
  int64_t out = dims[0];
  for (size_t i = 0; i + 1 < dims.size(); ++i) {
    int64_t in = dims[i];
    out = dims[i + 1];
    for (int64_t r = 0; r < config.num_res_blocks; ++r) {
      downsamples_.push_back(ResidualBlock(in, out, &slots_));
      if (in_scales(config.attn_scales, scale)) downsamples_.push_back(AttentionBlock(out));
      in = out;
    }
    if (i + 1 != config.dim_mult.size()) {
      const auto mode = config.temperal_downsample[i] ? ResampleImpl::Mode::downsample3d
                                                      : ResampleImpl::Mode::downsample2d;
      downsamples_.push_back(Resample(out, mode, &slots_));
      scale /= 2.0;
    }
  }
  build_middle(*this, middle_, out, &slots_);

  head = build_head(*this, out, 2 * config.z_dim, &slots_, &head_norm_, &head_conv_);
}

at::Tensor CausalEncoderImpl::forward(const at::Tensor& input, FeatureCache& cache, const StageHook* hook) {
  // input: one chunk [B, C, t, H, W] -> [B, 2*z_dim, t', H', W']
  const auto report = [&](const std::string& stage, const at::Tensor& x) {
    if (hook && *hook) (*hook)(stage, x);
  };
  at::Tensor x = conv1->forward(input, cache);
  report("conv1", x);
  for (size_t i = 0; i < downsamples_.size(); ++i) {
    x = downsamples_[i].forward(x, cache);
    report("downsamples." + std::to_string(i), x);
  }
  for (size_t i = 0; i < middle_.size(); ++i) x = middle_[i].forward(x, cache);
  report("middle", x);
  x = head_conv_->forward(at::silu(head_norm_->forward(x)), cache);
  report("head", x);
  return x;
}

Decoder3dImpl::Decoder3dImpl(const VaeConfig& config) {
  const auto& mult = config.dim_mult;
  std::vector<int64_t> dims{config.dim * mult.back()};
  for (auto it = mult.rbegin(); it != mult.rend(); ++it) dims.push_back(config.dim * *it);
  std::vector<bool> temporal_up(config.temperal_downsample.rbegin(), config.temperal_downsample.rend());
  const std::array<int64_t, 3> k3{3, 3, 3}, s1{1, 1, 1}, p1{1, 1, 1};

  conv1 = register_module("conv1", CausalConv3d(config.z_dim, dims[0], k3, s1, p1, &slots_));
  build_middle(*this, middle_, dims[0], &slots_);

  upsamples_.init(*this, "upsamples");
  double scale = 1.0 / static_cast<double>(int64_t{1} << (mult.size() - 2));
  int64_t out = dims[0];
  for (size_t i = 0; i + 1 < dims.size(); ++i) {
    int64_t in = dims[i];
    out = dims[i + 1];
    // Each upsample halves the channels, so stages 1..3 start from half
    // their input width (the reference hard-codes these three indices).
    if (i >= 1 && i <= 3) in /= 2;
    for (int64_t r = 0; r < config.num_res_blocks + 1; ++r) {
      upsamples_.push_back(ResidualBlock(in, out, &slots_));
      if (in_scales(config.attn_scales, scale)) upsamples_.push_back(AttentionBlock(out));
      in = out;
    }
    if (i + 1 != mult.size()) {
      const auto mode = temporal_up[i] ? ResampleImpl::Mode::upsample3d : ResampleImpl::Mode::upsample2d;
      upsamples_.push_back(Resample(out, mode, &slots_));
      scale *= 2.0;
    }
  }
  head = build_head(*this, out, 3, &slots_, &head_norm_, &head_conv_);
}

at::Tensor CausalDecoderImpl::forward(const at::Tensor& input, FeatureCache& cache, const StageHook* hook) {
  // input: one latent frame [B, z_dim, 1, h, w] -> 1 (first latent frame) or 4 frames
  const auto report = [&](const std::string& stage, const at::Tensor& x) {
    if (hook && *hook) (*hook)(stage, x);
  };
  at::Tensor x = conv1->forward(input, cache);
  report("conv1", x);
  for (size_t i = 0; i < middle_.size(); ++i) x = middle_[i].forward(x, cache);
  report("middle", x);
  for (size_t i = 0; i < upsamples_.size(); ++i) {
    x = upsamples_[i].forward(x, cache);
    report("upsamples." + std::to_string(i), x);
  }
  x = head_conv_->forward(at::silu(head_norm_->forward(x)), cache);
  report("head", x);
  return x;
}

}  // namespace soragen::vae
