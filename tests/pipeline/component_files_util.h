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

// The four component flags pointed at files named as in a download folder.
inline ModelSpec all_four(const std::filesystem::path& dir) {
  ModelSpec spec;
  spec.tokenizer = dir / "spiece.model";
  spec.text_encoder = dir / "text_encoder.safetensors";
  spec.dit = dir / "dit.safetensors";
  spec.vae = dir / "vae.safetensors";
  return spec;
}

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
  for (const auto& [name, tensor] : default_tensors("dit.safetensors")) {
    renamed["model.diffusion_model." + name] = tensor;
  }
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

// The default text encoder as Comfy-Org ships umT5: HF names
// (encoder.block.N.layer.0.SelfAttention.q.weight, shared.weight, ...) in a
// "scaled fp8" file (a scale_weight per Linear and a scaled_fp8 marker; the
// scales are 1 and the weights stay float32, so the values are the
// default's), with a model.json beside it that names it.
inline std::filesystem::path write_comfy_scaled_text_encoder(const std::filesystem::path& dir) {
  const std::pair<const char*, const char*> renames[] = {
      {".attn.q.", ".layer.0.SelfAttention.q."},   {".attn.k.", ".layer.0.SelfAttention.k."},
      {".attn.v.", ".layer.0.SelfAttention.v."},   {".attn.o.", ".layer.0.SelfAttention.o."},
      {".norm1.", ".layer.0.layer_norm."},
      {".pos_embedding.embedding.", ".layer.0.SelfAttention.relative_attention_bias."},
      {".ffn.gate.0.", ".layer.1.DenseReluDense.wi_0."}, {".ffn.fc1.", ".layer.1.DenseReluDense.wi_1."},
      {".ffn.fc2.", ".layer.1.DenseReluDense.wo."}, {".norm2.", ".layer.1.layer_norm."}};
  std::map<std::string, at::Tensor> file;
  for (const auto& [name, tensor] : default_tensors("text_encoder.safetensors")) {
    std::string hf = name;
    if (hf == "token_embedding.weight") hf = "shared.weight";
    if (hf == "norm.weight") hf = "encoder.final_layer_norm.weight";
    if (hf.rfind("blocks.", 0) == 0) hf = "encoder.block." + hf.substr(7);
    bool linear = false;
    for (const auto& [from, to] : renames) {
      const size_t at = hf.find(from);
      if (at == std::string::npos) continue;
      hf.replace(at, std::string(from).size(), to);
      linear = std::string(to).find("DenseReluDense") != std::string::npos ||
               (std::string(to).find("SelfAttention.") != std::string::npos &&
                std::string(to).find("relative") == std::string::npos);
      break;
    }
    file[hf] = tensor;
    if (linear) {
      const std::string layer = hf.substr(0, hf.size() - std::string(".weight").size());
      file[layer + ".scale_weight"] = at::ones({}, at::kFloat);
      file[layer + ".scale_input"] = at::ones({}, at::kFloat);
    }
  }
  file["scaled_fp8"] = at::empty({0}, at::kByte);
  const std::filesystem::path path = dir / "umt5_xxl_fp8_e4m3fn_scaled.safetensors";
  io::save_safetensors(path, file);
  nlohmann::json manifest = default_manifest();
  manifest["text_encoder"]["weights"] = path.filename().string();
  std::ofstream(dir / "model.json") << manifest.dump();
  return path;
}

}  // namespace soragen::test
