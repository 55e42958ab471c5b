#include "vae/wan22_config.h"

#include <nlohmann/json.hpp>

#include <vector>

#include "io/json_file.h"
#include "soragen/error.h"

namespace soragen::vae {

VaeConfig Vae22Config::defaults() {
  VaeConfig config;
  config.dim = 160;
  config.z_dim = 48;
  return config;
}

Vae22Config Vae22Config::from_json(const nlohmann::json& json, const std::string& where) {
  Vae22Config config;
  config.common = VaeConfig::from_json(json, where, defaults());
  try {
    config.dec_dim = json.value("dec_dim", config.dec_dim);
    config.patch_size = json.value("patch_size", config.patch_size);
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(where + ": " + e.what());
  }
  config.validate(where);
  return config;
}

Vae22Config Vae22Config::from_file(const std::filesystem::path& path) {
  const std::string where = "config '" + path.string() + "'";
  return from_json(io::read_json_object(path, where), where);
}

void Vae22Config::validate(const std::string& where) const {
  common.validate(where);
  const auto fail = [&](const std::string& problem) { throw ModelError(where + ": " + problem); };
  if (dec_dim <= 0) fail("dec_dim must be positive");
  if (patch_size != 2) fail("patch_size must be 2 (vae2_2.py hard-codes the 2x2 patchify)");
  if (!common.attn_scales.empty()) fail("attn_scales must be empty (the Wan2.2 VAE has no attention outside middle)");
  // AvgDown3D and DupUp3D regroup channels: the encoder's stage shortcut
  // averages groups of in*factor/out channels, the decoder's repeats each
  // channel out*factor/in times, so both ratios must be whole.
  const auto& mult = common.dim_mult;
  const size_t stages = mult.size();
  std::vector<int64_t> enc{common.dim};
  for (int64_t m : mult) enc.push_back(common.dim * m);
  std::vector<int64_t> dec{dec_dim * mult.back()};
  for (auto it = mult.rbegin(); it != mult.rend(); ++it) dec.push_back(dec_dim * *it);
  // The last encoder stage does not resample; its shortcut only regroups channels.
  if (enc[stages - 1] % enc[stages] != 0) {
    fail("encoder stage " + std::to_string(stages - 1) + ": " + std::to_string(enc[stages - 1]) +
         " channels do not split into " + std::to_string(enc[stages]) + " groups");
  }
  for (size_t i = 0; i + 1 < stages; ++i) {
    const int64_t factor = (common.temperal_downsample[i] ? 2 : 1) * 4;
    if ((enc[i] * factor) % enc[i + 1] != 0) {
      fail("encoder stage " + std::to_string(i) + ": " + std::to_string(enc[i]) + "*" + std::to_string(factor) +
           " channels do not split into " + std::to_string(enc[i + 1]) + " groups");
    }
    const int64_t up_factor = (common.temperal_downsample[stages - 2 - i] ? 2 : 1) * 4;
    if ((dec[i + 1] * up_factor) % dec[i] != 0) {
      fail("decoder stage " + std::to_string(i) + ": " + std::to_string(dec[i + 1]) + "*" +
           std::to_string(up_factor) + " channels are not a multiple of " + std::to_string(dec[i]));
    }
  }
}

}  // namespace soragen::vae
