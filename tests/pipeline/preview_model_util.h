// The bundled default with a preview decoder: its files linked into a
// temporary folder, and a small tiny decoder (TAEHV design, seeded random
// weights) fitted to whatever its VAE is, named in model.json's
// "preview_decoder". The embedded default ships none until one is trained.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "component_files_util.h"
#include "io/safetensors_writer.h"
#include "vae/tiny_decoder_config.h"
#include "vae/tiny_decoder_test_util.h"

namespace soragen::test {

// log2 of a power of two.
inline size_t upscale_stages(int64_t factor) {
  size_t stages = 0;
  while ((int64_t{1} << stages) < factor) ++stages;
  return stages;
}

// A narrow decoder making the pixels and frames per latent of `vae_config`
// (model.json's "vae" "config": one 2x per dim_mult step, one per true
// temperal_downsample), upscaling in the last stages.
inline vae::TinyDecoderConfig decoder_config_for(const nlohmann::json& vae_config) {
  vae::TinyDecoderConfig config;
  config.latent_channels = vae_config.at("z_dim").get<int64_t>();
  config.widths = {8, 8, 8, 8};
  const size_t space = vae_config.at("dim_mult").size() - 1;
  size_t time = 0;
  for (const auto& down : vae_config.at("temperal_downsample")) time += down.get<bool>() ? 1 : 0;
  for (size_t stage = 0; stage < 3; ++stage) {
    config.space_upscale[stage] = stage >= 3 - space;
    config.time_upscale[stage] = stage >= 3 - time;
  }
  return config;
}

// A decoder file of `config`'s shapes (TGrow convs stored with the doubled
// rows of the public files where the config does not upscale in time).
inline void write_decoder(const std::filesystem::path& file, const vae::TinyDecoderConfig& config,
                          std::uint64_t seed = 11) {
  vae::test::TaehvShape shape;
  shape.latent_channels = config.latent_channels;
  shape.widths = config.widths;
  shape.patch = config.patch_size;
  shape.encoder = false;
  shape.dtype = at::kFloat;
  shape.seed = seed;
  io::save_safetensors(file, vae::test::taehv_tensors(shape));
}

// `dir` becomes the default without its preview decoder.
inline void write_default_without_preview_decoder(const std::filesystem::path& dir) {
  nlohmann::json manifest = default_manifest();
  manifest.erase("preview_decoder");
  for (const char* part : {"spiece.model", "text_encoder.safetensors", "dit.safetensors", "vae.safetensors"}) {
    std::filesystem::create_symlink(default_model_dir() / part, dir / part);
  }
  std::ofstream(dir / "model.json") << manifest.dump(2);
}

// `dir` becomes the default with preview_decoder.safetensors; returns its config.
inline vae::TinyDecoderConfig write_default_with_preview_decoder(const std::filesystem::path& dir) {
  nlohmann::json manifest = default_manifest();
  for (const char* part : {"spiece.model", "text_encoder.safetensors", "dit.safetensors", "vae.safetensors"}) {
    std::filesystem::create_symlink(default_model_dir() / part, dir / part);
  }
  const vae::TinyDecoderConfig config = decoder_config_for(manifest.at("vae").at("config"));
  write_decoder(dir / "preview_decoder.safetensors", config);
  manifest["preview_decoder"] = {{"weights", "preview_decoder.safetensors"},
                                 {"config", nlohmann::json::parse(config.to_json().dump())}};
  std::ofstream(dir / "model.json") << manifest.dump(2);
  return config;
}

}  // namespace soragen::test
