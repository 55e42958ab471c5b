// What the Wan families share: the shipped configs of models/configs/, the
// DiT config picked by the weights' width, and the tokenizer and umT5 files
// that official and diffusers downloads of Wan2.1 and Wan2.2 alike carry.
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

// "a, b, c": the parts a folder lacks, for missing_message.
std::string comma_separated(const std::vector<std::string>& items);

// The official downloads' umT5 encoder (beside the DiT) and tokenizer
// (google/umt5-xxl/), both families' names for them.
inline constexpr const char* kOfficialTextEncoder = "models_t5_umt5-xxl-enc-bf16.pth";
inline constexpr const char* kOfficialTokenizerDir = "google/umt5-xxl";
// Adds those of the two `dir` lacks to `missing`.
void add_missing_official_text_encoder(const std::filesystem::path& dir, std::vector<std::string>& missing);
// Sets the tokenizer, text encoder and its shipped config of an official folder.
void locate_official_text_encoder(const std::filesystem::path& dir, ModelFiles& files);

// The four folders a diffusers download has, and those `dir` lacks.
std::vector<std::string> missing_diffusers_parts(const std::filesystem::path& dir);
// Sets the tokenizer, text encoder and its shipped config of a diffusers folder.
void locate_diffusers_text_encoder(const std::filesystem::path& dir, ModelFiles& files);

// The first path that exists; ModelError "<what>: none of ... exists" otherwise.
std::filesystem::path first_existing(const std::vector<std::filesystem::path>& candidates, const std::string& what);

}  // namespace soragen::pipeline
