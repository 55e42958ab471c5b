// The components a Wan2.2 pipeline golden file was made with, from its
// config's weights_from map: a path relative to the file ("../vae.safetensors
// (Wan2.1 VAE)": the first word), or "this file, keys <prefix>.*" for the
// two experts stored in the pipeline file itself.
#pragma once

#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "golden_util.h"
#include "io/tensor_source.h"
#include "pipeline/video_generator.h"
#include "vae/wan22_config.h"

namespace soragen::test {

// The golden file a weights_from entry names.
inline std::filesystem::path weights_from_path(const std::filesystem::path& pipeline_file, const std::string& entry) {
  std::istringstream words(entry);
  std::string first;
  words >> first;
  return pipeline_file.parent_path() / first;
}

// The tensors of `source` under "<prefix>.", renamed without it.
inline io::MemorySource prefixed_tensors(const io::TensorSource& source, const std::string& prefix) {
  std::map<std::string, at::Tensor> tensors;
  const std::string head = prefix + ".";
  for (const auto& name : source.names()) {
    if (name.rfind(head, 0) == 0) tensors[name.substr(head.size())] = source.load(name);
  }
  if (tensors.empty()) throw std::runtime_error(source.path().string() + " holds no " + head + "* tensors");
  return io::MemorySource(source.path().string() + " (" + head + "*)", std::move(tensors));
}

// `strict`: the source holds weights only (an expert's prefixed tensors),
// not a golden file's inputs and outputs too.
inline dit::WanModel golden_dit(const dit::DitConfig& config, const io::TensorSource& source, at::ScalarType dtype,
                                bool strict) {
  dit::DitLoadOptions options;
  options.weight_dtype = dtype;
  options.strict_weights = strict;
  dit::WanModel model = dit::load_wan_model(config, source, Logger(), options);
  model->run_options().compute_dtype = dtype;
  return model;
}

// TI2V: the DiT and the Wan2.2 VAE in their own golden files. A14B: the two
// experts in this file (high-noise first, from boundary * 1000) and the
// Wan2.1 VAE. The text encoder is the Wan2.1 golden umT5 for both.
inline std::unique_ptr<pipeline::VideoGenerator> wan22_components_from_golden(
    const GoldenFile& golden, const std::filesystem::path& path, const c10::Device& device = c10::kCPU,
    at::ScalarType dtype = at::kFloat) {
  const nlohmann::json& config = golden.config();
  const nlohmann::json& from = config.at("weights_from");

  const std::filesystem::path t5_path = weights_from_path(path, from.at("t5").get<std::string>());
  const GoldenFile t5(t5_path);
  text_encoder::TextEncoderOptions encoder_options;
  encoder_options.device = device;
  encoder_options.dtype = dtype;
  auto encoder = std::make_unique<text_encoder::TextEncoder>(
      text_encoder::UMT5Config::from_json(t5.config(), t5_path.string()), t5.source(), encoder_options);

  const std::filesystem::path vae_path = weights_from_path(path, from.at("vae").get<std::string>());
  const GoldenFile vae_file(vae_path);
  std::optional<pipeline::VideoVae> vae;
  if (vae_file.config().contains("dec_dim")) {
    vae::WanVAE22 model(vae::Vae22Config::from_json(vae_file.config(), vae_path.string()));
    model->load_weights(vae_file.source(), Logger());
    vae.emplace(std::move(model));
  } else {
    vae::WanVAE model(vae::VaeConfig::from_json(vae_file.config(), vae_path.string()));
    model->load_weights(vae_file.source(), Logger());
    vae.emplace(std::move(model));
  }

  std::vector<pipeline::DitExpert> experts;
  if (from.contains("dit")) {
    const std::filesystem::path dit_path = weights_from_path(path, from.at("dit").get<std::string>());
    const GoldenFile dit_file(dit_path);
    experts.push_back({"DiT", 0,
                       golden_dit(dit::DitConfig::from_json(dit_file.config(), dit_path.string()), dit_file.source(),
                                  dtype, false),
                       nullptr});
  } else {
    const dit::DitConfig expert_config = dit::DitConfig::from_json(config.at("expert_cfg"), path.string());
    const double boundary = config.at("boundary").get<double>() * config.at("num_train_timesteps").get<double>();
    experts.push_back({"high-noise expert", boundary,
                       golden_dit(expert_config, prefixed_tensors(golden.source(), "high_noise_model"), dtype, true),
                       nullptr});
    // Loaded when first needed, as the product does.
    experts.push_back({"low-noise expert", 0, dit::WanModel{nullptr}, [&golden, expert_config, dtype] {
                         return golden_dit(expert_config, prefixed_tensors(golden.source(), "low_noise_model"), dtype, true);
                       }});
  }
  return std::make_unique<pipeline::VideoGenerator>(std::move(encoder), std::move(experts), std::move(*vae), device);
}

}  // namespace soragen::test
