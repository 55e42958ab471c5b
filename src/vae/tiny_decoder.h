// A tiny video decoder in the TAEHV design (github.com/madebyollin/taehv):
// from the diffusion model's latent straight to frames, at a fraction of
// the Wan VAE's cost, for previews while denoising and --fast-decode.
//
//   auto source = io::open_weights("taew2_1.safetensors");      // or .pth, or a bundled preview_decoder
//   vae::TinyDecoder decoder = vae::load_tiny_decoder(*source, vae::detect_tiny_decoder(*source), log);
//   decoder->decode_frames(z, [&](const at::Tensor& frame, int64_t index) { ... });  // [B, 3, H, W] in [0, 1]
//
// It reads the latent the DiT produces (normalised: no latents_mean/std) as
// [B, latent_channels, T, h, w] and makes 1 + 4(T - 1) frames, as the Wan VAE
// does, in [0, 1] (TAEHV's range, not the Wan VAE's [-1, 1]). Module names
// are the checkpoint's keys (tiny_decoder_layers.h), so loading is a lookup;
// the encoder.* tensors of the public files are dropped by name.
#pragma once

#include <ATen/ATen.h>
#include <c10/core/ScalarType.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "io/tensor_source.h"
#include "soragen/log.h"
#include "vae/tiny_decoder_config.h"
#include "vae/tiny_decoder_layers.h"

namespace soragen::vae {

// relu(conv(cat[x, past]) + x), where `past` is this block's input at the
// previous latent timestep (zeros at the first). TAEHV's skip is a 1x1 conv
// only where the width changes, which no decoder block does: here it is x.
// conv.{0 conv(2C, C), 1 ReLU, 2 conv(C, C), 3 ReLU, 4 conv(C, C)}.
class TinyMemBlockImpl : public torch::nn::Module {
 public:
  explicit TinyMemBlockImpl(int64_t channels);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& past);  // [N, C, H, W] each -> [N, C, H, W]

 private:
  torch::nn::ModuleList conv{nullptr};
  torch::nn::Conv2d conv0_{nullptr};
  torch::nn::Conv2d conv2_{nullptr};
  torch::nn::Conv2d conv4_{nullptr};
};
TORCH_MODULE(TinyMemBlock);

// A 1x1 conv to C * stride channels, read as `stride` frames of C channels,
// the earlier frame first.
class TinyTGrowImpl : public torch::nn::Module {
 public:
  TinyTGrowImpl(int64_t channels, int64_t stride);
  // [N, C, H, W] -> `stride` frames [N, C, H, W], in time order.
  std::vector<at::Tensor> frames(const at::Tensor& x);
  int64_t stride() const { return stride_; }

 private:
  torch::nn::Conv2d conv{nullptr};
  int64_t stride_;
};
TORCH_MODULE(TinyTGrow);

struct TinyDecoderLoadOptions {
  std::optional<c10::ScalarType> dtype;  // store weights in this type (default: as constructed, fp32)
  bool strict_weights = false;           // unexpected tensors (other than encoder.*) are an error
};

// Receives each decoded frame [B, 3, H, W] in [0, 1] and its index in the video.
using TinyFrameCallback = std::function<void(const at::Tensor& frame, int64_t index)>;

class TinyDecoderImpl : public torch::nn::Module {
 public:
  explicit TinyDecoderImpl(TinyDecoderConfig config);

  const TinyDecoderConfig& config() const { return config_; }

  // Fills the weights from a TAEHV checkpoint: names as they are, encoder.*
  // dropped, and a TGrow conv with more output channels than this config's
  // stride needs reads its last ones (TAEHV's patch_tgrow_layers: a file
  // trained with time upscaling on a stage run without it). Throws
  // ModelError on missing or mis-shaped tensors.
  void load_weights(const io::TensorSource& source, const Logger& log, const TinyDecoderLoadOptions& options = {});

  // z: [B, latent_channels, T, h, w] -> frames [B, 3, H, W] in [0, 1], one
  // at a time in causal order (TAEHV's sequential mode): each MemBlock keeps
  // only its previous input, so memory stays flat in T, and the frames of
  // the first latents do not depend on later ones. Differentiable (the
  // training stage runs it under autograd); with `clamp` false the values
  // stay unclamped, for a loss. TAEHV's other mode, every frame at once
  // through each layer, is left out: batched convolutions (oneDNN's) round
  // differently from one frame's, so the two would not agree bit for bit.
  void decode_frames(const at::Tensor& z, const TinyFrameCallback& on_frame, bool clamp = true);
  // decode_frames gathered into [B, 3, 1 + t(T - 1), H, W].
  at::Tensor decode(const at::Tensor& z, bool clamp = true);

 private:
  // Layer `index` for the layers without memory or frame growth.
  at::Tensor apply(std::size_t index, const at::Tensor& x);
  // Pixel shuffle of the patch, then the clamp to [0, 1]: [N, 3p^2, h, w] -> [N, 3, ph, pw].
  at::Tensor finish(const at::Tensor& x, bool clamp) const;
  at::Tensor input(const at::Tensor& z) const;  // checked, cast to the weights' device and dtype

  TinyDecoderConfig config_;
  torch::nn::ModuleList decoder{nullptr};
  torch::nn::Conv2d first_{nullptr};
  torch::nn::Conv2d last_{nullptr};
  // Typed handles into `decoder`, by stage (and block within it).
  std::vector<torch::nn::Conv2d> stage_conv_;
  std::vector<TinyTGrow> grow_;
  std::vector<TinyMemBlock> mem_;
};
TORCH_MODULE(TinyDecoder);

TinyDecoder load_tiny_decoder(const io::TensorSource& source, const TinyDecoderConfig& config, const Logger& log,
                              const TinyDecoderLoadOptions& options = {});

}  // namespace soragen::vae
