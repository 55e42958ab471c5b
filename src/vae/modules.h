// Building blocks of the Wan2.1 causal 3D VAE (wan/modules/vae.py), each
// registered under its checkpoint name so `named_parameters()` yields exactly
// the official keys (encoder.downsamples.5.time_conv.weight, decoder.head.2.bias).
//
// Streaming is part of the model (golden README, traps 16-18): the encoder
// sees frame 0, then chunks of 4 frames, the decoder one latent frame at a
// time, and every 3-tap causal conv continues from the last frames of its
// previous input. That state lives in a FeatureCache the caller owns and
// passes to every forward; nothing is kept in the modules.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "vae/vae_config.h"

namespace soragen::vae {

// Called with a stage name ("conv1", "downsamples.5", "middle", "head") and
// that stage's output for the current chunk; used by parity tests and tools.
using StageHook = std::function<void(const std::string& stage, const at::Tensor& x)>;

// Per-module streaming state of one encoder or decoder pass over a video.
// Slot i belongs to the module constructed with slot index i.
class FeatureCache {
 public:
  struct Slot {
    bool seen = false;  // a chunk has passed (the temporal resamples treat the first one apart)
    at::Tensor tail;    // the last input frames this module needs next time ([B,C,<=2,H,W])
  };

  explicit FeatureCache(size_t slots) : slots_(slots) {}
  Slot& at(size_t index) { return slots_.at(index); }
  size_t size() const { return slots_.size(); }
  // Bytes held by the cached frames (flat in the video length by design).
  int64_t bytes() const;

 private:
  std::vector<Slot> slots_;
};

// Hands out cache slot indices in construction order.
struct SlotCounter {
  size_t next = 0;
  size_t take() { return next++; }
};

// Conv3d padded on the past side only in time: k_t=3 with padding 1 becomes 2
// frames of history (the cached frames, else zeros) and none of the future.
class CausalConv3dImpl : public torch::nn::Module {
 public:
  CausalConv3dImpl(int64_t in, int64_t out, std::array<int64_t, 3> kernel, std::array<int64_t, 3> stride,
                   std::array<int64_t, 3> padding, SlotCounter* slots);

  // x: [B, Cin, T, H, W] -> [B, Cout, T', H', W'], with `history` (may be
  // undefined) prepended in time and zeros for the rest of the causal pad.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& history = {}) const;
  // The streamed form: continues from the slot's frames, then keeps the last
  // (2 * padding_t) frames of [history, x] for the next chunk.
  at::Tensor forward(const at::Tensor& x, FeatureCache& cache) const;

  int64_t history_frames() const { return 2 * padding_[0]; }
  size_t slot() const { return slot_; }

  at::Tensor weight;
  at::Tensor bias;

 private:
  std::array<int64_t, 3> stride_;
  std::array<int64_t, 3> padding_;
  size_t slot_ = 0;
};
TORCH_MODULE(CausalConv3d);

// F.normalize over channels (x / max(||x||_2, 1e-12)) * sqrt(C) * gamma
// (trap 15: not rsqrt(mean + eps)). gamma is [C,1,1,1] for video, [C,1,1]
// for the per-frame attention.
class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, bool images);
  at::Tensor forward(const at::Tensor& x) const;
  at::Tensor gamma;

 private:
  double scale_;
};
TORCH_MODULE(RMSNorm);

// A block of the encoder's `downsamples`, the decoder's `upsamples` or a
// `middle`, called with the pass's cache.
class StreamBlock : public torch::nn::Module {
 public:
  virtual at::Tensor forward(const at::Tensor& x, FeatureCache& cache) = 0;
};

// residual.{0 norm, 1 SiLU, 2 conv, 3 norm, 4 SiLU, 5 dropout, 6 conv} + shortcut.
class ResidualBlockImpl : public StreamBlock {
 public:
  ResidualBlockImpl(int64_t in, int64_t out, SlotCounter* slots);
  at::Tensor forward(const at::Tensor& x, FeatureCache& cache) override;

 private:
  torch::nn::ModuleList residual{nullptr};
  RMSNorm norm1_{nullptr};
  CausalConv3d conv1_{nullptr};
  RMSNorm norm2_{nullptr};
  CausalConv3d conv2_{nullptr};
  CausalConv3d shortcut_{nullptr};  // 1x1x1, only when in != out
};
TORCH_MODULE(ResidualBlock);

// Single-head self-attention within each frame, q/k/v from one 1x1 conv in
// that channel order, scale 1/sqrt(C) (trap 19).
class AttentionBlockImpl : public StreamBlock {
 public:
  explicit AttentionBlockImpl(int64_t dim);
  at::Tensor forward(const at::Tensor& x, FeatureCache& cache) override;

 private:
  RMSNorm norm{nullptr};
  torch::nn::Conv2d to_qkv{nullptr};
  torch::nn::Conv2d proj{nullptr};
};
TORCH_MODULE(AttentionBlock);

// Spatial 2x resampling, with the 3d modes adding the temporal step (trap 18).
class ResampleImpl : public StreamBlock {
 public:
  enum class Mode { upsample2d, upsample3d, downsample2d, downsample3d };
  // The upsampling Conv2d's output width: Wan2.1 halves the channels, Wan2.2
  // (vae2_2.py, Wan2.2 trap 5) keeps them. Downsampling always keeps them.
  enum class UpWidth { half, same };
  ResampleImpl(int64_t dim, Mode mode, SlotCounter* slots, UpWidth up_width = UpWidth::half);
  at::Tensor forward(const at::Tensor& x, FeatureCache& cache) override;

 private:
  at::Tensor spatial(const at::Tensor& x);
  at::Tensor upsample_time(const at::Tensor& x, FeatureCache& cache) const;
  at::Tensor downsample_time(const at::Tensor& x, FeatureCache& cache) const;

  Mode mode_;
  size_t slot_ = 0;
  torch::nn::ModuleList resample{nullptr};  // 0: parameter-free (upsample / zero pad), 1: Conv2d
  torch::nn::Conv2d conv_{nullptr};
  CausalConv3d time_conv{nullptr};
};
TORCH_MODULE(Resample);

// A list of StreamBlocks under one checkpoint name (`downsamples`, `middle`).
class BlockList {
 public:
  void init(torch::nn::Module& owner, const std::string& name);
  template <typename Holder>
  void push_back(Holder holder) {
    list_->push_back(holder);
    blocks_.push_back(holder.ptr());
  }
  size_t size() const { return blocks_.size(); }
  StreamBlock& operator[](size_t i) const { return *blocks_[i]; }

 private:
  torch::nn::ModuleList list_{nullptr};
  std::vector<std::shared_ptr<StreamBlock>> blocks_;
};

// Fills `middle` with the reference's ResidualBlock, AttentionBlock,
// ResidualBlock at width `dim` (the same in both VAE generations).
void build_middle(torch::nn::Module& owner, BlockList& middle, int64_t dim, SlotCounter* slots);

// The head both generations end with: RMSNorm, SiLU and a 3x3x3 causal conv
// from `in` to `out` channels, registered as `head` (nn.Sequential's 0, 1, 2).
torch::nn::ModuleList build_head(torch::nn::Module& owner, int64_t in, int64_t out, SlotCounter* slots,
                                 RMSNorm* norm, CausalConv3d* conv);

// The encoder of both VAE generations: conv1 -> downsamples -> middle ->
// head (RMSNorm, SiLU, conv), one chunk at a time through the feature cache.
// Each generation's constructor builds the stages; the forward is shared.
// Stage names for the hook: "conv1", "downsamples.N", "middle", "head".
class CausalEncoderImpl : public torch::nn::Module {
 public:
  at::Tensor forward(const at::Tensor& x, FeatureCache& cache, const StageHook* hook = nullptr);
  size_t cache_slots() const { return slots_.next; }

 protected:
  SlotCounter slots_;
  CausalConv3d conv1{nullptr};
  BlockList downsamples_;
  BlockList middle_;
  torch::nn::ModuleList head{nullptr};  // 0 norm, 1 SiLU, 2 conv
  RMSNorm head_norm_{nullptr};
  CausalConv3d head_conv_{nullptr};
};

// The decoder of both generations: conv1 -> middle -> upsamples -> head, one
// latent frame per call. Stage names: "conv1", "middle", "upsamples.N", "head".
class CausalDecoderImpl : public torch::nn::Module {
 public:
  at::Tensor forward(const at::Tensor& x, FeatureCache& cache, const StageHook* hook = nullptr);
  size_t cache_slots() const { return slots_.next; }

 protected:
  SlotCounter slots_;
  CausalConv3d conv1{nullptr};
  BlockList middle_;
  BlockList upsamples_;
  torch::nn::ModuleList head{nullptr};
  RMSNorm head_norm_{nullptr};
  CausalConv3d head_conv_{nullptr};
};

// Wan2.1: video [B,3,T,H,W] -> [B, 2*z_dim, T', H/8, W/8] (mean and log-variance).
class Encoder3dImpl : public CausalEncoderImpl {
 public:
  explicit Encoder3dImpl(const VaeConfig& config);
};
TORCH_MODULE(Encoder3d);

// Wan2.1: latent [B, z_dim, 1, h, w] (one latent frame per call) -> [B, 3, 1 or 4, 8h, 8w].
class Decoder3dImpl : public CausalDecoderImpl {
 public:
  explicit Decoder3dImpl(const VaeConfig& config);
};
TORCH_MODULE(Decoder3d);

}  // namespace soragen::vae
