// The tiny video decoder's architecture numbers (TAEHV's decoder,
// github.com/madebyollin/taehv taehv.py): three stages of MemBlocks, each
// followed by an optional 2x spatial and 2x temporal upscale. The public
// taew2_1 (Wan2.1 VAE latents, 16 channels) and taew2_2 (Wan2.2 VAE, 48
// channels, a 2x2 pixel shuffle at the end) files use widths 256, 128, 64,
// 64; the embedded default's own decoder is narrower.
//
// Widths, latent channels and the patch are read from a checkpoint's shapes
// (detect); the upscale flags have no tensors and come from a config or take
// TAEHV's defaults for Wan (space on every stage, time on the last two).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <array>
#include <cstdint>
#include <string>

namespace soragen::io {
class TensorSource;
}

namespace soragen::vae {

struct TinyDecoderConfig {
  int64_t latent_channels = 16;                  // the diffusion model's latent (its VAE's z_dim)
  std::array<int64_t, 4> widths{256, 128, 64, 64};  // n_f: each stage's channels, then the last conv's input
  int64_t patch_size = 1;                        // a pixel shuffle of this factor after the last conv
  std::array<bool, 3> space_upscale{true, true, true};   // per stage: nearest 2x upsample
  std::array<bool, 3> time_upscale{false, true, true};   // per stage: TGrow doubles the frames

  // Pixels per latent along height and width, and frames per latent (all
  // upscales of the stages times the patch).
  int64_t spatial_factor() const;
  int64_t temporal_factor() const;
  // The decoder makes temporal_factor() frames per latent frame; the first
  // temporal_factor() - 1 are dropped, so T latents give the Wan VAE's
  // 1 + temporal_factor() * (T - 1) frames.
  int64_t frames_to_trim() const { return temporal_factor() - 1; }
  int64_t frames_for_latents(int64_t latents) const { return 1 + temporal_factor() * (latents - 1); }

  // `where` names the source in errors. Keys the JSON leaves out keep
  // TAEHV's defaults above. Throws ModelError.
  static TinyDecoderConfig from_json(const nlohmann::json& json, const std::string& where);
  nlohmann::ordered_json to_json() const;
  void validate(const std::string& where) const;
};

// True when `source` holds a TAEHV decoder (decoder.1.weight, a 3x3 conv
// from the latent, and decoder.22.weight, the last conv to pixels).
bool is_tiny_decoder(const io::TensorSource& source);

// The widths, latent channels and patch of the decoder in `source`, with
// TAEHV's default upscales. Throws ModelError naming the file when it is not
// a TAEHV decoder or its shapes do not make one.
TinyDecoderConfig detect_tiny_decoder(const io::TensorSource& source);

// `config` (e.g. from model.json) checked against the weights' shapes: one
// ModelError naming the file and the first number that differs.
void check_tiny_decoder_config(const TinyDecoderConfig& config, const io::TensorSource& source);

}  // namespace soragen::vae
