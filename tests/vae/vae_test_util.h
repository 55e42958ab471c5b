// The tiny seeded VAE of tests/data/golden/vae.safetensors, shared by the
// unit tests (the weights are 194 small tensors with the official names).
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <memory>
#include <string>

#include "golden_util.h"
#include "io/tensor_source.h"
#include "vae/vae_config.h"
#include "vae/wan_vae.h"

namespace soragen::vae::test {

inline std::filesystem::path tiny_vae_path() { return soragen::test::data_dir() / "golden" / "vae.safetensors"; }

inline VaeConfig tiny_config() {
  soragen::test::GoldenFile golden(tiny_vae_path());
  return VaeConfig::from_json(golden.config(), tiny_vae_path().string());
}

// The weights only (no input./output./debug. tensors), official names.
inline std::map<std::string, at::Tensor> tiny_weights() {
  auto source = io::open_weights(tiny_vae_path());
  std::map<std::string, at::Tensor> weights;
  for (const auto& name : source->names()) {
    if (name.rfind("input.", 0) == 0 || name.rfind("output.", 0) == 0 || name.rfind("debug.", 0) == 0) continue;
    weights[name] = source->load(name).clone();
  }
  return weights;
}

inline WanVAE tiny_vae() {
  WanVAE vae(tiny_config());
  io::MemorySource source("tiny-vae", tiny_weights());
  vae->load_weights(source, Logger{});
  return vae;
}

}  // namespace soragen::vae::test
