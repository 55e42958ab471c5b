// Architecture numbers of a WanModel (Wan2.1 DiT), read from JSON
// (models/configs/wan2.1-t2v-*.json or a golden file's config) and validated
// once, so the model code can trust every field.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>

namespace soragen::io {
class TensorSource;
struct KeyMap;
}  // namespace soragen::io

namespace soragen::dit {

struct DitConfig {
  std::string model_type = "t2v";            // t2v, ti2v (Wan2.2 TI2V: per-token timesteps) or i2v (Wan2.2: y channels)
  std::array<int64_t, 3> patch_size{1, 2, 2};  // (t, h, w)
  int64_t text_len = 512;                    // context rows after zero padding
  int64_t in_dim = 16;                       // latent channels in
  int64_t dim = 1536;                        // model width
  int64_t ffn_dim = 8960;
  int64_t freq_dim = 256;                    // sinusoidal time embedding width
  int64_t text_dim = 4096;                   // umT5 width
  int64_t out_dim = 16;                      // latent channels out
  int64_t num_heads = 12;
  int64_t num_layers = 30;
  std::array<int64_t, 2> window_size{-1, -1};  // (-1,-1): global attention, the only kind supported
  bool qk_norm = true;
  bool cross_attn_norm = true;
  double eps = 1e-6;
  double rope_theta = 10000.0;
  int64_t rope_max_positions = 1024;         // rows of the RoPE table per axis

  int64_t head_dim() const { return dim / num_heads; }
  int64_t patch_volume() const { return patch_size[0] * patch_size[1] * patch_size[2]; }

  // Every field checked; `where` names the source in the error
  // ("config 'models/configs/x.json'"). Throws ModelError.
  static DitConfig from_json(const nlohmann::json& json, const std::string& where);
  static DitConfig from_file(const std::filesystem::path& path);

  // Throws ModelError("<where>: ...") when a size breaks a rule (heads divide
  // dim, even head_dim of at least 6 for the three RoPE parts, ...).
  void validate(const std::string& where) const;
};

// Tokens of one latent [C, F, H, W] after patchify: (F/pt)(H/ph)(W/pw).
// Throws UsageError when a size is not a multiple of the patch.
int64_t token_count(const DitConfig& config, int64_t frames, int64_t height, int64_t width);

// Compares the config with a checkpoint (after `key_map` renames): block count,
// widths and the input/output/text sizes, so a 1.3B config on 14B weights
// fails with one line naming both numbers instead of a list of shape errors.
void check_config_against_weights(const DitConfig& config, const io::TensorSource& source,
                                  const io::KeyMap& key_map);

}  // namespace soragen::dit
