// Helpers shared by the DiT unit tests (one file per source file they test).
#pragma once

#include <ATen/ATen.h>

#include <filesystem>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "dit/config.h"
#include "dit/wan_model.h"
#include "expect_throw.h"

namespace soragen::dit::unit {

#define EXPECT_THROW_WITH(statement, exception, fragment) \
  SORAGEN_EXPECT_THROW_MESSAGE(statement, exception, fragment, false)

inline std::filesystem::path configs_dir() { return std::filesystem::path(SORAGEN_SOURCE_MODELS_DIR) / "configs"; }

inline nlohmann::json tiny_json() {
  return {{"model_type", "t2v"}, {"patch_size", {1, 2, 2}}, {"text_len", 8},    {"in_dim", 4},
          {"dim", 24},           {"ffn_dim", 32},           {"freq_dim", 16},   {"text_dim", 12},
          {"out_dim", 4},        {"num_heads", 2},          {"num_layers", 2},  {"window_size", {-1, -1}},
          {"qk_norm", true},     {"cross_attn_norm", true}, {"eps", 1e-6}};
}

inline DitConfig tiny_config() { return DitConfig::from_json(tiny_json(), "tiny"); }

// Shapes of a tiny model's tensors stand in for a checkpoint.
inline std::map<std::string, at::Tensor> zero_checkpoint(const DitConfig& config) {
  WanModel model(config);
  std::map<std::string, at::Tensor> tensors;
  for (const auto& item : model->named_parameters()) tensors[item.key()] = at::zeros(item.value().sizes());
  return tensors;
}

}  // namespace soragen::dit::unit
