// Building blocks of the Wan2.2 VAE (wan/modules/vae2_2.py) that Wan2.1 lacks:
// the parameter-free AvgDown3D / DupUp3D shortcuts, the Down_ResidualBlock /
// Up_ResidualBlock stages that carry them, and the encoder and decoder built
// from them. Everything else (CausalConv3d with its cache, RMS_norm,
// ResidualBlock, AttentionBlock, Resample and its first-chunk rules) is the
// Wan2.1 code of vae/modules.h, as the reference reuses those classes.
//
// Module names equal the checkpoint keys of Wan2.2_VAE.pth
// (encoder.downsamples.1.downsamples.2.time_conv.weight,
// decoder.upsamples.0.upsamples.3.resample.1.weight, ...).
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

#include "vae/modules.h"
#include "vae/wan22_config.h"

namespace soragen::vae {

// AvgDown3D (golden README, Wan2.2 trap 4): zero-pads time at the FRONT to a
// multiple of factor_t (the 1-frame first chunk is averaged with a zero
// frame), folds each (factor_t, factor_s, factor_s) block into channels
// (C slowest, the w offset fastest) and averages consecutive groups of
// C*factor/out_channels channels.
// x: [B, C, T, H, W] -> [B, out_channels, ceil(T/ft), H/fs, W/fs].
at::Tensor avg_down_3d(const at::Tensor& x, int64_t out_channels, int64_t factor_t, int64_t factor_s);

// DupUp3D: repeats every channel out_channels*factor/C times (repeat_interleave),
// then unfolds the channels (out_C, ft, fs, fs) into time and space. On the
// decoder's first chunk the first ft-1 frames are dropped.
// x: [B, C, T, H, W] -> [B, out_channels, T*ft (- ft+1), H*fs, W*fs].
at::Tensor dup_up_3d(const at::Tensor& x, int64_t out_channels, int64_t factor_t, int64_t factor_s, bool first_chunk);

// One encoder stage: `downsamples` = num_res_blocks ResidualBlocks and (but
// for the last stage) a Resample, plus avg_down_3d of the stage input.
class DownResidualBlockImpl : public StreamBlock {
 public:
  DownResidualBlockImpl(int64_t in, int64_t out, int64_t blocks, bool temporal, bool down, SlotCounter* slots);
  at::Tensor forward(const at::Tensor& x, FeatureCache& cache) override;

 private:
  BlockList downsamples_;
  int64_t out_;
  int64_t factor_t_;
  int64_t factor_s_;
};
TORCH_MODULE(DownResidualBlock);

// One decoder stage: `upsamples` = num_res_blocks+1 ResidualBlocks and (but
// for the last stage) a channel-keeping Resample, plus dup_up_3d of the
// stage input when the stage upsamples. The first call with a cache is the
// reference's first_chunk (frame 0 of the latent).
class UpResidualBlockImpl : public StreamBlock {
 public:
  UpResidualBlockImpl(int64_t in, int64_t out, int64_t blocks, bool temporal, bool up, SlotCounter* slots);
  at::Tensor forward(const at::Tensor& x, FeatureCache& cache) override;

 private:
  BlockList upsamples_;
  int64_t out_;
  int64_t factor_t_;
  int64_t factor_s_;  // 0: no shortcut (the last stage returns its main path alone)
  size_t slot_ = 0;   // `seen` marks the first chunk
};
TORCH_MODULE(UpResidualBlock);

// Patchified video chunk [B, 12, t, H/2, W/2] -> [B, 2*z_dim, t', H/16, W/16].
// Stage names for the hook: "conv1", "downsamples.N" (each stage, shortcut
// included), "middle", "head".
class Encoder22Impl : public CausalEncoderImpl {
 public:
  explicit Encoder22Impl(const Vae22Config& config);
};
TORCH_MODULE(Encoder22);

// One latent frame [B, z_dim, 1, h, w] -> [B, 12, 1 (first call) or 4, 8h, 8w]
// (still patchified). Stage names: "conv1", "middle", "upsamples.N", "head".
class Decoder22Impl : public CausalDecoderImpl {
 public:
  explicit Decoder22Impl(const Vae22Config& config);
};
TORCH_MODULE(Decoder22);

}  // namespace soragen::vae
