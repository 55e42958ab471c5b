#include "configs.h"

#include <vector>

namespace soragen::train {

nlohmann::ordered_json text_encoder_config(int vocab) {
  return {{"vocab", vocab}, {"dim", 64}, {"dim_attn", 64}, {"dim_ffn", 128}, {"num_heads", 4},
          {"num_layers", 2}, {"num_buckets", 32}, {"max_dist", 64}, {"eps", 1e-6}, {"text_len", kTextLen}};
}

// TI2V-style (Wan2.2 TI2V-5B's scheme on the Wan2.1 network): per-token
// timesteps, so that frames given clean (an image, a clip's context) carry
// timestep 0 (train_dit --conditioning).
nlohmann::ordered_json dit_config() {
  return {{"model_type", "ti2v"}, {"patch_size", {1, 2, 2}}, {"text_len", kTextLen}, {"in_dim", 16},
          {"dim", 128}, {"ffn_dim", 384}, {"freq_dim", 128}, {"text_dim", 64}, {"out_dim", 16},
          {"num_heads", 4}, {"num_layers", 4}, {"window_size", {-1, -1}}, {"qk_norm", true},
          {"cross_attn_norm", true}, {"eps", 1e-6}};
}

nlohmann::ordered_json vae_config() {
  return {{"dim", 16}, {"z_dim", 16}, {"dim_mult", {1, 2, 2, 4}}, {"num_res_blocks", 1},
          {"attn_scales", nlohmann::ordered_json::array()}, {"temperal_downsample", {false, true, true}},
          {"dropout", 0.0}, {"latents_mean", std::vector<double>(16, 0.0)},
          {"latents_std", std::vector<double>(16, 1.0)}};
}

}  // namespace soragen::train
