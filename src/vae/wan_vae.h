// The Wan2.1 video VAE (wan/modules/vae.py WanVAE_ inside the WanVAE wrapper):
// 8x spatial and 4x temporal compression to 16 latent channels.
//
//   auto config = vae::VaeConfig::from_file("models/configs/wan2.1-vae.json");
//   vae::WanVAE model(config);
//   model->load_weights(*io::open_weights("Wan2.1_VAE.pth"), log);  // official, Comfy or diffusers names
//   at::Tensor z = model->encode(video);            // [1,3,1+4k,H,W] in [-1,1] -> [1,16,1+k,H/8,W/8]
//   model->decode_frames(z, [&](const at::Tensor& frames, int64_t first) {
//     vae::append_video_frames(frames[0], out);     // [3,1 or 4,H,W] as they come
//   });
//
// Both directions stream as the reference does (golden README, trap 17): the
// encoder takes frame 0, then chunks of 4 frames; the decoder one latent frame
// at a time. Each pass owns a FeatureCache (the last frames of every causal
// conv's input), so memory stays flat in the number of frames.
#pragma once

#include <ATen/ATen.h>
#include <c10/core/ScalarType.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <functional>
#include <optional>

#include "io/tensor_source.h"
#include "soragen/log.h"
#include "vae/key_maps.h"
#include "vae/latent_scale.h"
#include "vae/modules.h"
#include "vae/tiling.h"
#include "vae/vae_config.h"

namespace soragen::vae {

// Receives decoded frames as soon as a latent frame is done: `frames` is
// [B, 3, t, H, W] float32 (t = 1 for the first latent frame, 4 after), and
// `first_frame` its index in the whole video.
using FrameChunkCallback = std::function<void(const at::Tensor& frames, int64_t first_frame)>;

struct DecodeOptions {
  bool clamp = true;                  // clamp to [-1, 1] as WanVAE.decode does
  TileOptions tiling;                 // disabled by default: the untiled decode is the reference
  const StageHook* hook = nullptr;    // per-stage outputs ("conv1", "middle", "upsamples.N", "head"); untiled only
};

struct VaeLoadOptions {
  std::optional<c10::ScalarType> dtype;  // store weights in this type (default: as constructed, fp32)
  bool strict_weights = false;           // unexpected tensors are an error (io::LoadOptions)
};

class WanVAEImpl : public torch::nn::Module {
 public:
  explicit WanVAEImpl(VaeConfig config);

  const VaeConfig& config() const { return config_; }
  // The weights' dtype, in which activations run (norms are lifted to fp32).
  c10::ScalarType dtype() const;

  // Fills the weights from a checkpoint in any supported layout (official
  // .pth, Comfy safetensors, diffusers vae/); throws ModelError on missing or
  // mis-shaped tensors. dtype: store weights in this type (default: fp32).
  void load_weights(const io::TensorSource& source, const Logger& log,
                    std::optional<c10::ScalarType> dtype = std::nullopt);
  // The same with the layout decided by the caller.
  void load_weights(const io::TensorSource& source, VaeLayout layout, const Logger& log,
                    const VaeLoadOptions& options);

  struct Moments {
    at::Tensor mu;       // [B, z_dim, F, h, w], before normalisation
    at::Tensor log_var;  // unused by the reference pipeline
  };
  // video: [B, 3, 1+4k, H, W] in [-1, 1], H and W multiples of 8. Float32 results.
  Moments encode_moments(const at::Tensor& video, const StageHook* hook = nullptr);
  // The normalised latent (mu - mean) * (1/std); no sampling (trap 20).
  at::Tensor encode(const at::Tensor& video, const StageHook* hook = nullptr);

  at::Tensor normalize_latent(const at::Tensor& mu) const;   // (mu - mean) * (1/std)
  at::Tensor denormalize_latent(const at::Tensor& z) const;  // z / (1/std) + mean

  // z: [B, z_dim, F, h, w] normalised latent -> frames 1 + 4(F-1), delivered per latent frame.
  void decode_frames(const at::Tensor& z, const FrameChunkCallback& on_frames, const DecodeOptions& options = {});
  // The whole video [B, 3, 1 + 4(F-1), 8h, 8w] at once (float32).
  at::Tensor decode(const at::Tensor& z, const DecodeOptions& options = {});

  static int64_t frames_for_latents(int64_t latent_frames) { return 1 + 4 * (latent_frames - 1); }
  static int64_t latents_for_frames(int64_t frames) { return 1 + (frames - 1) / 4; }

 private:
  // conv2 output -> decoded chunks, untiled or tiled.
  void decode_untiled(const at::Tensor& x, const FrameChunkCallback& emit, const StageHook* hook);
  void decode_tiled(const at::Tensor& x, const TileOptions& tiling, const FrameChunkCallback& emit);

  VaeConfig config_;
  Encoder3d encoder{nullptr};
  CausalConv3d conv1{nullptr};  // encoder output -> (mu, log_var)
  CausalConv3d conv2{nullptr};  // latent -> decoder input
  Decoder3d decoder{nullptr};
  LatentScale scale_;  // latents_mean and 1/latents_std, fp32
};
TORCH_MODULE(WanVAE);

// The VAE's load entry, spelled as the text encoder's and the DiT's: a source
// in a known `layout` into a VAE of `config`.
WanVAE load_vae(const io::TensorSource& source, VaeLayout layout, const VaeConfig& config, const Logger& log,
                const VaeLoadOptions& options = {});

}  // namespace soragen::vae
