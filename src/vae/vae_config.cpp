#include "vae/vae_config.h"

#include <nlohmann/json.hpp>

#include "io/json_file.h"
#include "soragen/error.h"

namespace soragen::vae {

int64_t VaeConfig::temporal_factor() const {
  int64_t factor = 1;
  for (bool down : temperal_downsample) factor *= down ? 2 : 1;
  return factor;
}

VaeConfig VaeConfig::from_json(const nlohmann::json& json, const std::string& where) {
  return from_json(json, where, VaeConfig{});
}

VaeConfig VaeConfig::from_json(const nlohmann::json& json, const std::string& where, const VaeConfig& defaults) {
  VaeConfig config = defaults;
  try {
    config.dim = json.value("dim", config.dim);
    config.z_dim = json.value("z_dim", config.z_dim);
    config.dim_mult = json.value("dim_mult", config.dim_mult);
    config.num_res_blocks = json.value("num_res_blocks", config.num_res_blocks);
    config.attn_scales = json.value("attn_scales", config.attn_scales);
    config.temperal_downsample = json.value("temperal_downsample", config.temperal_downsample);
    config.dropout = json.value("dropout", config.dropout);
    config.latents_mean = json.at("latents_mean").get<std::vector<float>>();
    config.latents_std = json.at("latents_std").get<std::vector<float>>();
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(where + ": " + e.what());
  }
  config.validate(where);
  return config;
}

VaeConfig VaeConfig::from_file(const std::filesystem::path& path) {
  const std::string where = "config '" + path.string() + "'";
  return from_json(io::read_json_object(path, where), where);
}

void VaeConfig::validate(const std::string& where) const {
  const auto fail = [&](const std::string& problem) { throw ModelError(where + ": " + problem); };
  if (dim <= 0 || z_dim <= 0 || num_res_blocks <= 0) fail("dim, z_dim and num_res_blocks must be positive");
  if (dim_mult.size() < 2) fail("dim_mult needs at least 2 stages");
  for (int64_t m : dim_mult) {
    if (m <= 0) fail("dim_mult entries must be positive");
  }
  if (temperal_downsample.size() != dim_mult.size() - 1) {
    fail("temperal_downsample has " + std::to_string(temperal_downsample.size()) + " entries, expected " +
         std::to_string(dim_mult.size() - 1) + " (one per stage transition)");
  }
  // The decoder's temporal upsampling assumes 1+4k frames from 1+k latents.
  if (temporal_factor() != 4) fail("temperal_downsample must have exactly two true entries (4x in time)");
  if (static_cast<int64_t>(latents_mean.size()) != z_dim || static_cast<int64_t>(latents_std.size()) != z_dim) {
    fail("latents_mean and latents_std need z_dim = " + std::to_string(z_dim) + " values");
  }
  for (float s : latents_std) {
    if (!(s > 0)) fail("latents_std entries must be positive");
  }
}

}  // namespace soragen::vae
