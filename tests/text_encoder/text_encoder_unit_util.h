// Helpers shared by the umT5 unit tests (one file per source file they test):
// the XXL config, the golden tiny model, and renamings into other layouts.
#pragma once

#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "expect_throw.h"
#include "golden_util.h"
#include "io/tensor_source.h"
#include "text_encoder/text_encoder.h"

namespace soragen::text_encoder::unit {
// Substring check on a one-line error message.
#define EXPECT_ERROR(statement, exception, fragment) \
  SORAGEN_EXPECT_THROW_MESSAGE(statement, exception, fragment, true)

inline nlohmann::json xxl_json() {
  return {{"vocab", 256384}, {"dim", 4096},       {"dim_attn", 4096}, {"dim_ffn", 10240},
          {"num_heads", 64}, {"num_layers", 24},  {"num_buckets", 32}, {"max_dist", 128},
          {"eps", 1e-6},     {"shared_pos", false}, {"text_len", 512}};
}

inline UMT5Config xxl() { return UMT5Config::from_json(xxl_json(), "test"); }

inline std::filesystem::path golden_t5() { return test::golden_dir() / "t5_encoder.safetensors"; }

// The golden file's weights (official names) and config.
struct TinyModel {
  UMT5Config config;
  std::map<std::string, at::Tensor> weights;
  at::Tensor ids, mask;
};

inline TinyModel tiny_model() {
  const test::GoldenFile golden(golden_t5());
  TinyModel m;
  m.config = UMT5Config::from_json(golden.config(), "golden config");
  for (const auto& name : golden.source().names()) {
    if (name.rfind("input.", 0) == 0 || name.rfind("output.", 0) == 0 || name.rfind("debug.", 0) == 0) continue;
    m.weights[name] = golden.tensor(name).clone();
  }
  m.ids = golden.tensor("input.ids");
  m.mask = golden.tensor("input.mask");
  return m;
}

inline at::Tensor hidden_of(const TinyModel& m, const io::TensorSource& source, TextEncoderLayout expected_layout) {
  const TextEncoder encoder(m.config, source);
  EXPECT_EQ(encoder.layout(), expected_layout);
  return encoder.hidden_states(m.ids, m.mask);
}

inline at::Tensor official_hidden(const TinyModel& m) {
  return hidden_of(m, io::MemorySource("official", m.weights), TextEncoderLayout::wan);
}

// Official name -> HF UMT5EncoderModel name (written independently of the
// library's table, from transformers' modeling_umt5.py module names).
inline std::string to_hf(const std::string& name) {
  static const std::vector<std::pair<std::string, std::string>> parts = {
      {".attn.q.", ".layer.0.SelfAttention.q."},
      {".attn.k.", ".layer.0.SelfAttention.k."},
      {".attn.v.", ".layer.0.SelfAttention.v."},
      {".attn.o.", ".layer.0.SelfAttention.o."},
      {".pos_embedding.embedding.", ".layer.0.SelfAttention.relative_attention_bias."},
      {".norm1.", ".layer.0.layer_norm."},
      {".ffn.gate.0.", ".layer.1.DenseReluDense.wi_0."},
      {".ffn.fc1.", ".layer.1.DenseReluDense.wi_1."},
      {".ffn.fc2.", ".layer.1.DenseReluDense.wo."},
      {".norm2.", ".layer.1.layer_norm."},
  };
  if (name == "token_embedding.weight") return "shared.weight";
  if (name == "norm.weight") return "encoder.final_layer_norm.weight";
  std::string out = "encoder.block." + name.substr(std::string("blocks.").size());
  for (const auto& [from, to] : parts) {
    const size_t pos = out.find(from);
    if (pos != std::string::npos) return out.replace(pos, from.size(), to);
  }
  ADD_FAILURE() << "no HF name for " << name;
  return out;
}

inline std::map<std::string, at::Tensor> renamed(const std::map<std::string, at::Tensor>& weights,
                                          const std::function<std::string(const std::string&)>& rename) {
  std::map<std::string, at::Tensor> out;
  for (const auto& [name, tensor] : weights) out[rename(name)] = tensor;
  return out;
}

}  // namespace soragen::text_encoder::unit
