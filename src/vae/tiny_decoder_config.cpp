#include "vae/tiny_decoder_config.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <vector>

#include "io/tensor_source.h"
#include "soragen/error.h"
#include "vae/tiny_decoder_layers.h"

namespace soragen::vae {
namespace {

// A conv weight's shape [out, in, k, k], or a ModelError naming the tensor.
std::vector<int64_t> conv_shape(const io::TensorSource& source, const std::string& name, int64_t kernel) {
  if (!source.contains(name)) {
    throw ModelError(source.error_prefix() + "not a TAEHV tiny decoder: no tensor '" + name + "'");
  }
  const std::vector<int64_t>& shape = source.info(name).shape;
  if (shape.size() != 4 || shape[2] != kernel || shape[3] != kernel || shape[0] <= 0 || shape[1] <= 0) {
    throw ModelError(source.error_prefix() + "not a TAEHV tiny decoder: tensor '" + name + "' has shape " +
                     io::format_shape(shape) + ", expected a " + std::to_string(kernel) + "x" +
                     std::to_string(kernel) + " conv weight [out,in," + std::to_string(kernel) + "," +
                     std::to_string(kernel) + "]");
  }
  return shape;
}

std::string text(const std::array<int64_t, 4>& widths) {
  std::string out = "[";
  for (size_t i = 0; i < widths.size(); ++i) out += (i ? "," : "") + std::to_string(widths[i]);
  return out + "]";
}

}  // namespace

int64_t TinyDecoderConfig::spatial_factor() const {
  int64_t factor = patch_size;
  for (bool up : space_upscale) factor *= up ? 2 : 1;
  return factor;
}

int64_t TinyDecoderConfig::temporal_factor() const {
  int64_t factor = 1;
  for (bool up : time_upscale) factor *= up ? 2 : 1;
  return factor;
}

TinyDecoderConfig TinyDecoderConfig::from_json(const nlohmann::json& json, const std::string& where) {
  TinyDecoderConfig config;
  try {
    if (!json.is_object()) throw ModelError(where + ": must be a JSON object");
    config.latent_channels = json.value("latent_channels", config.latent_channels);
    config.widths = json.value("widths", config.widths);
    config.patch_size = json.value("patch_size", config.patch_size);
    config.space_upscale = json.value("space_upscale", config.space_upscale);
    config.time_upscale = json.value("time_upscale", config.time_upscale);
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(where + ": " + e.what());
  }
  config.validate(where);
  return config;
}

nlohmann::ordered_json TinyDecoderConfig::to_json() const {
  return {{"latent_channels", latent_channels},
          {"widths", widths},
          {"patch_size", patch_size},
          {"space_upscale", space_upscale},
          {"time_upscale", time_upscale}};
}

void TinyDecoderConfig::validate(const std::string& where) const {
  const auto fail = [&](const std::string& problem) { throw ModelError(where + ": " + problem); };
  if (latent_channels <= 0) fail("latent_channels must be positive");
  for (int64_t width : widths) {
    if (width <= 0) fail("widths must be positive, got " + text(widths));
  }
  if (patch_size < 1 || patch_size > 8) fail("patch_size must be between 1 and 8");
  // The first latent frame makes one frame (the rest are trimmed), as the
  // causal Wan VAEs do; without a time upscale there is nothing to trim and
  // every latent makes one frame, which no Wan VAE does.
  if (temporal_factor() == 1) fail("time_upscale needs at least one true entry (Wan VAEs are 4x in time)");
}

bool is_tiny_decoder(const io::TensorSource& source) {
  for (const std::string& name : {tiny_layer_name(kTinyFirstConv), tiny_layer_name(kTinyLastConv)}) {
    if (!source.contains(name + ".weight") || source.info(name + ".weight").shape.size() != 4) return false;
  }
  return true;
}

TinyDecoderConfig detect_tiny_decoder(const io::TensorSource& source) {
  TinyDecoderConfig config;
  const std::vector<int64_t> first = conv_shape(source, tiny_layer_name(kTinyFirstConv) + ".weight", 3);
  config.latent_channels = first[1];
  config.widths[0] = first[0];
  for (size_t stage = 0; stage < kTinyStages; ++stage) {
    config.widths[stage + 1] = conv_shape(source, tiny_layer_name(tiny_stage_conv(stage)) + ".weight", 3)[0];
  }
  const std::string last_name = tiny_layer_name(kTinyLastConv) + ".weight";
  const std::vector<int64_t> last = conv_shape(source, last_name, 3);
  // 3 * patch^2 output channels: 3 (taew2_1), 12 (taew2_2's 2x2 shuffle).
  const auto patch = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(last[0]) / 3.0)));
  if (3 * patch * patch != last[0]) {
    throw ModelError(source.error_prefix() + "not a TAEHV tiny decoder: tensor '" + last_name + "' makes " +
                     std::to_string(last[0]) + " channels, not 3 x patch^2");
  }
  config.patch_size = patch;
  config.validate(source.error_prefix() + "TAEHV decoder");
  return config;
}

void check_tiny_decoder_config(const TinyDecoderConfig& config, const io::TensorSource& source) {
  const TinyDecoderConfig weights = detect_tiny_decoder(source);
  const auto fail = [&](const std::string& what, const std::string& config_value, const std::string& weights_value) {
    throw ModelError(source.error_prefix() + "the preview decoder's config says " + what + " " + config_value +
                     ", its weights have " + weights_value);
  };
  if (config.latent_channels != weights.latent_channels) {
    fail("latent_channels", std::to_string(config.latent_channels), std::to_string(weights.latent_channels));
  }
  if (config.widths != weights.widths) fail("widths", text(config.widths), text(weights.widths));
  if (config.patch_size != weights.patch_size) {
    fail("patch_size", std::to_string(config.patch_size), std::to_string(weights.patch_size));
  }
}

}  // namespace soragen::vae
