// What the Wan2.2 families share: which of the three models a DiT is (by the
// in_dim of its patch_embedding), that model's shipped DiT config and its
// defaults file in models/configs/.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "dit/config.h"
#include "pipeline/model_files.h"

namespace soragen::pipeline {

// One Wan2.2 model as shipped: "ti2v-5b", "t2v-a14b" or "i2v-a14b".
struct Wan22Model {
  std::string id;
  bool two_experts = false;
  std::filesystem::path dit_config() const;  // models/configs/wan2.2-<id>.json
  std::filesystem::path defaults() const;    // models/configs/wan2.2-<id>.defaults.json
};

// The model a DiT's weights are, from patch_embedding.weight [dim, in_dim, ...]:
// in_dim 48 is TI2V-5B, 16 with two experts T2V-A14B, 36 I2V-A14B. ModelError
// naming `weights` when the shape fits none or the expert count disagrees.
Wan22Model wan22_model_of(const std::filesystem::path& weights, bool two_experts);

// `beside` (a config.json that came with the weights) when given, else the
// model's shipped config; either must agree with the weights' width and
// in_dim. The model_type is the model's (diffusers configs do not say it).
dit::DitConfig wan22_dit_config(const Wan22Model& model, const std::filesystem::path& weights,
                                std::optional<dit::DitConfig> beside);

// The model's defaults and boundary from its defaults file.
void apply_wan22_defaults(const Wan22Model& model, ModelFiles& files);

// models/configs/wan2.2-vae.json.
vae::Vae22Config shipped_vae22_config();

}  // namespace soragen::pipeline
