// The Wan2.1 VAE (z 16, 8x spatial) or the Wan2.2 VAE (z 48, 16x with its
// patchify), behind the one face the pipeline needs: its latent geometry,
// encode, and a streamed decode. The models pick theirs: Wan2.1 and the
// Wan2.2 A14B experts use the Wan2.1 VAE, TI2V-5B the Wan2.2 one.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <variant>

#include "vae/tiling.h"
#include "vae/vae_config.h"
#include "vae/wan22_config.h"
#include "vae/wan22_vae.h"
#include "vae/wan_vae.h"

namespace soragen::pipeline {

using AnyVaeConfig = std::variant<vae::VaeConfig, vae::Vae22Config>;

int64_t vae_z_dim(const AnyVaeConfig& config);
// Pixels per latent along height and width (8 for Wan2.1, 16 for Wan2.2).
int64_t vae_spatial_factor(const AnyVaeConfig& config);
// Frames per latent frame after the first (4 for both).
int64_t vae_temporal_factor(const AnyVaeConfig& config);
// "Wan2.1 VAE" or "Wan2.2 VAE", for messages.
const char* vae_kind_name(const AnyVaeConfig& config);

class VideoVae {
 public:
  VideoVae(vae::WanVAE model) : model_(std::move(model)) {}
  VideoVae(vae::WanVAE22 model) : model_(std::move(model)) {}

  AnyVaeConfig config() const;
  int64_t z_dim() const { return vae_z_dim(config()); }
  int64_t spatial_factor() const { return vae_spatial_factor(config()); }
  int64_t temporal_factor() const { return vae_temporal_factor(config()); }

  // The module, to move between devices.
  torch::nn::Module& module();

  // video [1, 3, 1+4k, H, W] in [-1, 1] -> the normalised latent
  // [1, z_dim, 1+k, H/s, W/s], float32.
  at::Tensor encode(const at::Tensor& video);

  // z [1, z_dim, F, h, w] -> frames as each latent frame is decoded, clamped
  // to [-1, 1]. Tiling is the Wan2.1 VAE's; the Wan2.2 VAE has none and
  // refuses a tiled request (InternalError: ModelInputs::vae_tile is checked
  // first).
  void decode_frames(const at::Tensor& z, const vae::FrameChunkCallback& on_frames,
                     const vae::TileOptions& tiling = {});

 private:
  std::variant<vae::WanVAE, vae::WanVAE22> model_;
};

}  // namespace soragen::pipeline
