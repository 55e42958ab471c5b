// The tiny umT5, DiT and VAE that a pipeline*.safetensors file was made
// with (its config's weights_from), loaded into a VideoGenerator on `device`.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>

#include "golden_util.h"
#include "pipeline/video_generator.h"

namespace soragen::test {

// `dtype`: the text encoder's and the DiT's weights and activations; the VAE
// stays float32, as the pipeline runs it.
inline std::unique_ptr<pipeline::VideoGenerator> components_from_golden(const nlohmann::json& config,
                                                                     const c10::Device& device = c10::kCPU,
                                                                     at::ScalarType dtype = at::kFloat) {
  std::unique_ptr<text_encoder::TextEncoder> encoder;
  dit::WanModel dit{nullptr};
  vae::WanVAE vae{nullptr};
  for (const auto& file : config.at("weights_from")) {
    const GoldenFile golden(golden_dir() / file.get<std::string>());
    const std::string name = file.get<std::string>();
    if (name.rfind("t5_encoder", 0) == 0) {
      text_encoder::TextEncoderOptions options;
      options.device = device;
      options.dtype = dtype;
      encoder = std::make_unique<text_encoder::TextEncoder>(text_encoder::UMT5Config::from_json(golden.config(), name),
                                                            golden.source(), options);
    } else if (name.rfind("dit", 0) == 0) {
      dit::DitLoadOptions options;
      options.weight_dtype = dtype;
      dit = dit::load_wan_model(dit::DitConfig::from_json(golden.config(), name), golden.source(), Logger(), options);
      dit->run_options().compute_dtype = dtype;
    } else if (name.rfind("vae", 0) == 0) {
      vae = vae::WanVAE(vae::VaeConfig::from_json(golden.config(), name));
      vae->load_weights(golden.source(), Logger());
    }
  }
  if (!encoder || dit.is_empty() || vae.is_empty()) throw std::runtime_error("weights_from lacks a component");
  return std::make_unique<pipeline::VideoGenerator>(std::move(encoder), std::move(dit), std::move(vae), device);
}

}  // namespace soragen::test
