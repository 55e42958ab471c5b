// Which files and sizes a model source stands for, as its family describes
// them (pipeline/model_family.h, families/), with the component files the
// spec names in their place.
#pragma once

#include <filesystem>
#include <string>

#include "dit/config.h"
#include "soragen/options.h"
#include "soragen/pipeline.h"
#include "text_encoder/umt5_config.h"
#include "vae/vae_config.h"

namespace soragen::pipeline {

struct ModelFiles {
  std::filesystem::path tokenizer;  // sentencepiece model
  std::filesystem::path text_encoder;
  text_encoder::UMT5Config text_encoder_config;
  std::filesystem::path dit;        // a .safetensors file or shard index
  dit::DitConfig dit_config;
  std::filesystem::path vae;
  vae::VaeConfig vae_config;
  GenerationDefaults defaults;
  std::string notice;               // said once when the model loads (e.g. "untrained")
};

// The Wan2.1 T2V defaults (wan/configs/shared_config.py, generate.py).
GenerationDefaults wan_t2v_defaults();

// Throws ModelError naming the file that is missing or malformed, or the two
// files that do not fit together.
ModelFiles locate_model_files(const ModelSource& source);

}  // namespace soragen::pipeline
