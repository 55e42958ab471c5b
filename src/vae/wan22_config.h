// The Wan2.2 VAE's architecture numbers (models/configs/wan2.2-vae.json, or
// the golden file's __metadata__["config"]), parsed and validated once.
//
// wan/modules/vae2_2.py builds WanVAE_(dim, dec_dim, z_dim, ...): the Wan2.1
// fields plus a separate decoder width (golden README, Wan2.2 trap 2) and a
// fixed 2x2 patchify in front of the encoder and after the decoder (trap 1).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <filesystem>
#include <string>

#include "vae/vae_config.h"

namespace soragen::vae {

struct Vae22Config {
  // dim (the ENCODER width), z_dim, dim_mult, num_res_blocks,
  // temperal_downsample, latents_mean / latents_std, read and checked as for
  // Wan2.1. attn_scales must stay empty: vae2_2.py never builds those blocks.
  VaeConfig common = defaults();
  int64_t dec_dim = 256;   // decoder width: Wan2_2_VAE passes only dim, so the WanVAE_ default stays
  int64_t patch_size = 2;  // the reference hard-codes 2 (12 = 3*2*2 channels at both ends)

  // The real model's values (dim 160, z_dim 48); latents must come from the file.
  static VaeConfig defaults();

  // Channels at the patchified ends of the encoder and decoder (12).
  int64_t patch_channels() const { return 3 * patch_size * patch_size; }
  // Pixels per latent: the patch times one 2x step per stage transition (16).
  int64_t spatial_factor() const { return patch_size * common.spatial_factor(); }
  int64_t temporal_factor() const { return common.temporal_factor(); }

  // `where` names the source in errors ("config 'x.json'"). Throws ModelError.
  static Vae22Config from_json(const nlohmann::json& json, const std::string& where);
  static Vae22Config from_file(const std::filesystem::path& path);
  void validate(const std::string& where) const;
};

}  // namespace soragen::vae
