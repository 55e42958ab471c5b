// Component files built from the bundled default's own parts, the way users
// download them: renamed (Comfy-Org), moved away from their model.json, or
// resized so that they no longer fit the other parts.
#pragma once

#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "io/safetensors_writer.h"
#include "io/tensor_source.h"
#include "soragen/pipeline.h"

namespace soragen::test {

inline std::filesystem::path default_model_dir() { return models_directory() / "default"; }

inline nlohmann::json default_manifest() {
  std::ifstream in(default_model_dir() / "model.json");
  return nlohmann::json::parse(in);
}

inline std::map<std::string, at::Tensor> default_tensors(const char* file) {
  const auto source = io::open_weights(default_model_dir() / file);
  std::map<std::string, at::Tensor> tensors;
  for (const auto& name : source->names()) tensors[name] = source->load(name);
  return tensors;
}

// The default DiT under Comfy-Org's names ("model.diffusion_model." before
// every key), with its config as a config.json beside it (its width is no
// released model's), plus `extra` tensors.
inline std::filesystem::path write_comfy_dit(const std::filesystem::path& dir,
                                             const std::map<std::string, at::Tensor>& extra = {}) {
  std::map<std::string, at::Tensor> renamed;
  for (const auto& [name, tensor] : default_tensors("dit.safetensors")) renamed["model.diffusion_model." + name] = tensor;
  for (const auto& [name, tensor] : extra) renamed[name] = tensor;
  const std::filesystem::path file = dir / "wan2.1_t2v_tiny_fp32.safetensors";
  io::save_safetensors(file, renamed);
  std::ofstream(dir / "config.json") << default_manifest().at("dit").at("config").dump();
  return file;
}

// A text encoder of the default's shape but `dim` wide with `vocab` rows of
// random weights, and a model.json beside it that names it with that config.
inline std::filesystem::path write_resized_text_encoder(const std::filesystem::path& dir, int64_t dim,
                                                        int64_t vocab) {
  nlohmann::json manifest = default_manifest();
  nlohmann::json& config = manifest["text_encoder"]["config"];
  const int64_t old_dim = config.at("dim").get<int64_t>();
  config["dim"] = dim;
  config["dim_attn"] = dim;
  config["vocab"] = vocab;
  std::map<std::string, at::Tensor> tensors;
  at::manual_seed(0);
  for (const auto& [name, tensor] : default_tensors("text_encoder.safetensors")) {
    std::vector<int64_t> shape = tensor.sizes().vec();
    for (auto& size : shape) size = size == old_dim ? dim : size;
    if (name == "token_embedding.weight") shape[0] = vocab;
    tensors[name] = at::randn(shape) * 0.02;
  }
  const std::filesystem::path file = dir / manifest["text_encoder"]["weights"].get<std::string>();
  io::save_safetensors(file, tensors);
  std::ofstream(dir / "model.json") << manifest.dump();
  return file;
}

}  // namespace soragen::test
