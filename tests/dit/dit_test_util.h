// Helpers shared by the DiT tests: the weights of a golden file, the inputs of
// one of its cases, and a run of the model on them.
#pragma once

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dit/wan_model.h"
#include "golden_util.h"
#include "io/tensor_source.h"

namespace soragen::test {

inline bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

// Official -> diffusers, as diffusers' scripts/convert_wan_to_diffusers.py
// does it (TRANSFORMER_KEYS_RENAME_DICT, plain str.replace in dict order); an
// independent statement of the mapping that key_maps.cpp inverts.
inline std::string official_to_diffusers(std::string key) {
  const std::vector<std::pair<std::string, std::string>> table = {
      {"time_embedding.0", "condition_embedder.time_embedder.linear_1"},
      {"time_embedding.2", "condition_embedder.time_embedder.linear_2"},
      {"text_embedding.0", "condition_embedder.text_embedder.linear_1"},
      {"text_embedding.2", "condition_embedder.text_embedder.linear_2"},
      {"time_projection.1", "condition_embedder.time_proj"},
      {"head.modulation", "scale_shift_table"},
      {"head.head", "proj_out"},
      {"modulation", "scale_shift_table"},
      {"ffn.0", "ffn.net.0.proj"},
      {"ffn.2", "ffn.net.2"},
      {"norm2", "norm__placeholder"},
      {"norm3", "norm2"},
      {"norm__placeholder", "norm3"},
      {"self_attn.q", "attn1.to_q"},
      {"self_attn.k", "attn1.to_k"},
      {"self_attn.v", "attn1.to_v"},
      {"self_attn.o", "attn1.to_out.0"},
      {"self_attn.norm_q", "attn1.norm_q"},
      {"self_attn.norm_k", "attn1.norm_k"},
      {"cross_attn.q", "attn2.to_q"},
      {"cross_attn.k", "attn2.to_k"},
      {"cross_attn.v", "attn2.to_v"},
      {"cross_attn.o", "attn2.to_out.0"},
      {"cross_attn.norm_q", "attn2.norm_q"},
      {"cross_attn.norm_k", "attn2.norm_k"},
  };
  for (const auto& [from, to] : table) {
    for (size_t pos = key.find(from); pos != std::string::npos; pos = key.find(from, pos + to.size())) {
      key.replace(pos, from.size(), to);
    }
  }
  return key;
}

// The model's tensors of a golden file (everything but input./output./debug.).
inline std::map<std::string, at::Tensor> golden_weights(const GoldenFile& golden) {
  std::map<std::string, at::Tensor> weights;
  for (const auto& name : golden.source().names()) {
    if (starts_with(name, "input.") || starts_with(name, "output.") || starts_with(name, "debug.")) continue;
    weights[name] = golden.tensor(name);
  }
  return weights;
}

// Case names, from the file's "input.<case>.t" keys.
inline std::vector<std::string> golden_cases(const GoldenFile& golden) {
  std::vector<std::string> cases;
  for (const auto& name : golden.names_with_prefix("input.")) {
    const std::string rest = name.substr(6);
    const size_t dot = rest.rfind('.');
    if (dot != std::string::npos && rest.substr(dot) == ".t") cases.push_back(rest.substr(0, dot));
  }
  return cases;
}

struct DitCase {
  std::vector<at::Tensor> x;
  at::Tensor t;
  std::vector<at::Tensor> context;
  int64_t seq_len = 0;
};

inline DitCase golden_case(const GoldenFile& golden, const std::string& name) {
  DitCase c;
  const std::string prefix = "input." + name + ".";
  c.t = golden.tensor(prefix + "t");
  // t is [B], or [B, seq_len] for per-token timesteps.
  for (int64_t b = 0; b < c.t.size(0); ++b) {
    c.x.push_back(golden.tensor(prefix + "x." + std::to_string(b)));
    c.context.push_back(golden.tensor(prefix + "context." + std::to_string(b)));
  }
  c.seq_len = golden.tensor(prefix + "seq_len").item<int64_t>();
  return c;
}

inline std::vector<at::Tensor> run_case(const dit::WanModel& model, const DitCase& c,
                                        const dit::DebugHook& hook = nullptr) {
  c10::InferenceMode guard;
  return model->forward(c.x, c.t, c.context, c.seq_len, hook);
}

inline dit::WanModel load_memory_model(const dit::DitConfig& config, std::map<std::string, at::Tensor> weights,
                                       const dit::DitLoadOptions& options = {}) {
  io::MemorySource source("memory", std::move(weights));
  return dit::load_wan_model(config, source, Logger(), options);
}

}  // namespace soragen::test
