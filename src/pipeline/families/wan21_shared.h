// What the Wan2.1 T2V families share: the shipped configs of models/configs/
// and the DiT config picked by the weights' width.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "io/tensor_source.h"
#include "pipeline/model_files.h"

namespace soragen::pipeline {

// The DiT's width, read from patch_embedding.weight in any layout; `weights`
// names the file in errors.
int64_t dit_width(const io::TensorSource& source, const std::filesystem::path& weights);

// The shipped DiT config whose width matches the weights (1.3B: 1536, 14B: 5120).
dit::DitConfig shipped_dit_config(int64_t width, const std::filesystem::path& weights);

// models/configs/umt5-xxl.json and wan2.1-vae.json.
text_encoder::UMT5Config shipped_umt5_config();
vae::VaeConfig shipped_vae_config();

// `beside` (a config.json that came with the weights) when given, checked
// against the weights' width; else the shipped config of that width.
// The first form opens the weights' header; the second reads an open one.
dit::DitConfig dit_config_for(const std::filesystem::path& weights, const std::optional<dit::DitConfig>& beside);
dit::DitConfig dit_config_for(const io::TensorSource& source, const std::filesystem::path& weights,
                              const std::optional<dit::DitConfig>& beside);

// The first path that exists; ModelError "<what>: none of ... exists" otherwise.
std::filesystem::path first_existing(const std::vector<std::filesystem::path>& candidates, const std::string& what);

}  // namespace soragen::pipeline
