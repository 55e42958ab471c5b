// The model's files: its family's description, then the component files the
// spec names in place of that family's parts.
#include "pipeline/model_files.h"

#include "io/tensor_source.h"
#include "pipeline/component_files.h"
#include "pipeline/model_family.h"
#include "soragen/error.h"

namespace soragen::pipeline {

ModelFiles locate_model_files(const ModelSource& source) {
  ModelFiles files = model_family(source.family).locate(source);
  const ModelSpec& spec = source.spec;
  if (spec.tokenizer || spec.text_encoder || spec.dit || spec.low_noise_dit || spec.vae || spec.preview_decoder) {
    // Another DiT than the folder's: the folder's step-cache tables were fitted to its own.
    if (spec.dit || spec.low_noise_dit) files.step_cache.reset();
    files = with_component_files(std::move(files), spec);
    check_parts_agree(files);
  }
  fit_preview_decoder(files);
  return files;
}

void fit_preview_decoder(ModelFiles& files) {
  if (files.preview_decoder.empty()) return;
  const auto source = io::open_weights(files.preview_decoder);
  if (files.preview_decoder_config) {
    vae::check_tiny_decoder_config(*files.preview_decoder_config, *source);
  } else {
    files.preview_decoder_config = vae::detect_tiny_decoder(*source);
  }
  const vae::TinyDecoderConfig& decoder = *files.preview_decoder_config;
  const auto fail = [&](const std::string& decoder_says, const std::string& vae_says) {
    throw ModelError(source->error_prefix() + "this preview decoder " + decoder_says + ", the " +
                     vae_kind_name(files.vae_config) + " of '" + files.vae.string() + "' " + vae_says +
                     " (taew2_1 fits the Wan2.1 VAE, taew2_2 the Wan2.2 VAE)");
  };
  const int64_t z_dim = vae_z_dim(files.vae_config);
  const int64_t spatial = vae_spatial_factor(files.vae_config);
  const int64_t temporal = vae_temporal_factor(files.vae_config);
  if (decoder.latent_channels != z_dim) {
    fail("takes " + std::to_string(decoder.latent_channels) + " latent channels", "has " + std::to_string(z_dim));
  }
  if (decoder.spatial_factor() != spatial) {
    fail("makes " + std::to_string(decoder.spatial_factor()) + " pixels per latent", "makes " + std::to_string(spatial));
  }
  if (decoder.temporal_factor() != temporal) {
    fail("makes " + std::to_string(decoder.temporal_factor()) + " frames per latent",
         "makes " + std::to_string(temporal));
  }
}

dit::StepCacheTables step_cache_tables(const ModelFiles& files) {
  if (files.step_cache) return *files.step_cache;
  return dit::published_step_cache_tables(files.dit_config, files.two_experts());
}

}  // namespace soragen::pipeline
