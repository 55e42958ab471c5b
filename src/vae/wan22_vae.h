// The Wan2.2 video VAE (wan/modules/vae2_2.py WanVAE_ inside the Wan2_2_VAE
// wrapper): a 2x2 patchify, then 8x spatial and 4x temporal compression to 48
// latent channels (16x spatial overall), with separate encoder and decoder
// widths. It sits beside the Wan2.1 WanVAE and shares its building blocks.
//
//   auto config = vae::Vae22Config::from_file("models/configs/wan2.2-vae.json");
//   vae::WanVAE22 model(config);
//   model->load_weights(*io::open_weights("Wan2.2_VAE.pth"), log);  // official, Comfy or diffusers names
//   at::Tensor z = model->encode(video);   // [1,3,1+4k,H,W] in [-1,1] -> [1,48,1+k,H/16,W/16]
//   model->decode_frames(z, [&](const at::Tensor& frames, int64_t first) {
//     vae::append_video_frames(frames[0], out);  // [3,1 or 4,H,W] as they come
//   });
//
// Both directions stream as the reference does (golden README, Wan2.2 trap
// 7): the encoder takes frame 0, then chunks of 4 frames; the decoder one
// latent frame at a time, so decode memory stays flat in the video length.
#pragma once

#include <ATen/ATen.h>
#include <c10/core/ScalarType.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <optional>

#include "io/tensor_source.h"
#include "soragen/log.h"
#include "vae/latent_scale.h"
#include "vae/wan22_config.h"
#include "vae/key_maps.h"
#include "vae/wan22_modules.h"
#include "vae/wan_vae.h"  // FrameChunkCallback

namespace soragen::vae {

struct Vae22DecodeOptions {
  bool clamp = true;                // clamp to [-1, 1] as Wan2_2_VAE.decode does
  const StageHook* hook = nullptr;  // "conv2" (once, all latent frames), then per frame "conv1", "middle",
                                    // "upsamples.N", "head" (still patchified)
};

class WanVAE22Impl : public torch::nn::Module {
 public:
  explicit WanVAE22Impl(Vae22Config config);

  const Vae22Config& config() const { return config_; }
  // The weights' dtype, in which activations run (norms are lifted to fp32).
  c10::ScalarType dtype() const;

  // Fills the weights from a checkpoint in any supported layout (official
  // Wan2.2_VAE.pth and Comfy-Org's wan2.2_vae.safetensors, a Comfy
  // checkpoint's first_stage_model., diffusers vae/); throws ModelError
  // naming the file on a missing or mis-shaped tensor, or when the file is
  // not a Wan2.2 VAE (a Wan2.1 one, say). dtype: store weights in this type
  // (default: fp32).
  void load_weights(const io::TensorSource& source, const Logger& log,
                    std::optional<c10::ScalarType> dtype = std::nullopt);
  // The same with the layout decided by the caller.
  void load_weights(const io::TensorSource& source, VaeLayout layout, const Logger& log,
                    const VaeLoadOptions& options);

  struct Moments {
    at::Tensor mu;       // [B, z_dim, F, h, w], before normalisation
    at::Tensor log_var;  // unused by the reference pipelines
  };
  // video: [B, 3, 1+4k, H, W] in [-1, 1], H and W multiples of 16. Float32
  // results. Hook stages: "patchified" (per chunk), then the encoder's
  // "conv1", "downsamples.N", "middle", "head" per chunk.
  Moments encode_moments(const at::Tensor& video, const StageHook* hook = nullptr);
  // The normalised latent (mu - mean) * (1/std); no sampling.
  at::Tensor encode(const at::Tensor& video, const StageHook* hook = nullptr);

  at::Tensor normalize_latent(const at::Tensor& mu) const { return scale_.normalize(mu); }
  at::Tensor denormalize_latent(const at::Tensor& z) const { return scale_.denormalize(z); }

  // z: [B, z_dim, F, h, w] normalised latent -> frames [B, 3, t, 16h, 16w],
  // t = 1 for the first latent frame and 4 after, handed out as each is done.
  void decode_frames(const at::Tensor& z, const FrameChunkCallback& on_frames,
                     const Vae22DecodeOptions& options = {});
  // The whole video [B, 3, 1 + 4(F-1), 16h, 16w] at once (float32).
  at::Tensor decode(const at::Tensor& z, const Vae22DecodeOptions& options = {});

  static int64_t frames_for_latents(int64_t latent_frames) { return 1 + 4 * (latent_frames - 1); }
  static int64_t latents_for_frames(int64_t frames) { return 1 + (frames - 1) / 4; }

 private:
  Vae22Config config_;
  Encoder22 encoder{nullptr};
  CausalConv3d conv1{nullptr};  // encoder output -> (mu, log_var), 1x1x1
  CausalConv3d conv2{nullptr};  // latent -> decoder input, 1x1x1
  Decoder22 decoder{nullptr};
  LatentScale scale_;           // latents_mean and 1/latents_std, fp32
};
TORCH_MODULE(WanVAE22);

// The Wan2.2 VAE's load entry, spelled as load_vae: a source in `layout` into
// a VAE of `config`.
WanVAE22 load_vae22(const io::TensorSource& source, VaeLayout layout, const Vae22Config& config, const Logger& log,
                    const VaeLoadOptions& options = {});

}  // namespace soragen::vae
