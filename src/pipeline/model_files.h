// Which files and sizes a model source stands for, as its family describes
// them (pipeline/model_family.h, families/), with the component files the
// spec names in their place.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "dit/config.h"
#include "dit/step_cache_tables.h"
#include "soragen/options.h"
#include "soragen/pipeline.h"
#include "text_encoder/umt5_config.h"
#include "pipeline/video_vae.h"
#include "vae/tiny_decoder_config.h"

namespace soragen::pipeline {

struct ModelFiles {
  std::filesystem::path tokenizer;  // sentencepiece model
  std::filesystem::path text_encoder;
  text_encoder::UMT5Config text_encoder_config;
  // The DiT, or the high-noise expert of a two-expert model (Wan2.2 A14B):
  // a .safetensors file or shard index.
  std::filesystem::path dit;
  dit::DitConfig dit_config;
  // A two-expert model's low-noise expert; empty for one DiT. The high-noise
  // expert runs while the scheduler's timestep t >= boundary * 1000 (golden
  // README, Wan2.2 trap 16), this one below.
  std::filesystem::path low_noise_dit;
  dit::DitConfig low_noise_dit_config;
  double boundary = 0;
  std::filesystem::path vae;
  AnyVaeConfig vae_config;          // the Wan2.1 or the Wan2.2 VAE's
  GenerationDefaults defaults;
  std::string notice;               // said once when the model loads (e.g. "untrained")
  // A tiny decoder for --preview and --fast-decode (model.json's
  // "preview_decoder", or --preview-decoder); empty: none. Its config is
  // model.json's when it gives one, else the TAEHV one its weights' shapes
  // say; locate_model_files fills it and checks that it fits the VAE.
  std::filesystem::path preview_decoder;
  std::optional<vae::TinyDecoderConfig> preview_decoder_config;
  // A bundled model's own TeaCache/MagCache tables (model.json "step_cache");
  // unset: the published ones of the DiT, if any (step_cache_tables()).
  std::optional<dit::StepCacheTables> step_cache;

  bool two_experts() const { return !low_noise_dit.empty(); }
};

// What TeaCache and MagCache know of the model: its own tables, else the
// published ones its DiT's shape is recognised by.
dit::StepCacheTables step_cache_tables(const ModelFiles& files);

// The Wan2.1 T2V defaults (wan/configs/shared_config.py, generate.py).
GenerationDefaults wan_t2v_defaults();

// Throws ModelError naming the file that is missing or malformed, or the two
// files that do not fit together.
ModelFiles locate_model_files(const ModelSource& source);

// The preview decoder's config from its header (or model.json's, checked
// against it), and a ModelError naming the file when its latent channels,
// pixels or frames per latent are not the VAE's. Nothing without one.
void fit_preview_decoder(ModelFiles& files);

}  // namespace soragen::pipeline
