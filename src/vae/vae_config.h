// The Wan2.1 VAE's architecture numbers (models/configs/wan2.1-vae.json, or a
// golden file's __metadata__["config"]), parsed and validated once.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace soragen::vae {

struct VaeConfig {
  int64_t dim = 96;                                  // channels of the first stage
  int64_t z_dim = 16;                                // latent channels
  std::vector<int64_t> dim_mult{1, 2, 4, 4};         // channel multiplier per stage
  int64_t num_res_blocks = 2;                        // residual blocks per encoder stage (+1 in the decoder)
  std::vector<double> attn_scales;                   // scales with an extra attention block (empty for Wan2.1)
  std::vector<bool> temperal_downsample{false, true, true};  // reference spelling; per stage transition
  double dropout = 0.0;                              // inert at inference, kept for validation only
  std::vector<float> latents_mean;                   // z_dim values
  std::vector<float> latents_std;                    // z_dim values

  // Spatial factor between pixels and latents: one 2x step per stage transition.
  int64_t spatial_factor() const { return int64_t{1} << (dim_mult.size() - 1); }
  // Temporal factor: one 2x step per true entry of temperal_downsample.
  int64_t temporal_factor() const;

  // `where` names the source in errors ("config 'x.json'"). Throws ModelError.
  // Keys the JSON leaves out keep their value in `defaults` (the Wan2.1 VAE's
  // unless a caller such as the Wan2.2 config passes its own).
  static VaeConfig from_json(const nlohmann::json& json, const std::string& where);
  static VaeConfig from_file(const std::filesystem::path& path);
  static VaeConfig from_json(const nlohmann::json& json, const std::string& where, const VaeConfig& defaults);
  void validate(const std::string& where) const;
};

}  // namespace soragen::vae
