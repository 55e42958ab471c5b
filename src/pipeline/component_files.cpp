#include "pipeline/component_files.h"

#include <system_error>
#include <vector>

#include "dit/config.h"
#include "dit/key_maps.h"
#include "dit/wan_model.h"
#include "io/scaled_fp8.h"
#include "io/tensor_source.h"
#include "pipeline/families/wan21_diffusers.h"
#include "pipeline/families/wan21_shared.h"
#include "pipeline/families/wan22_shared.h"
#include "pipeline/model_manifest.h"
#include "soragen/error.h"
#include "text_encoder/key_maps.h"
#include "text_encoder/text_encoder.h"
#include "vae/key_maps.h"
#include "vae/tiny_decoder_config.h"

namespace fs = std::filesystem;

namespace soragen::pipeline {
namespace {

bool is_plain_file(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

bool is_folder(const fs::path& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

std::string quoted(Component component, const fs::path& path) {
  return std::string(component_flag(component)) + " '" + path.string() + "'";
}

// The usual file names of each component inside a folder, in the order the
// downloads use them.
std::vector<fs::path> candidates(Component component, const fs::path& dir) {
  switch (component) {
    case Component::tokenizer:
      return {dir / "spiece.model", dir / "tokenizer" / "spiece.model", dir / "google" / "umt5-xxl" / "spiece.model"};
    case Component::text_encoder:
      return {dir / "model.safetensors.index.json", dir / "model.safetensors",
              dir / "text_encoder" / "model.safetensors.index.json", dir / "text_encoder" / "model.safetensors",
              dir / "models_t5_umt5-xxl-enc-bf16.pth"};
    case Component::vae:
      return {dir / "diffusion_pytorch_model.safetensors", dir / "vae" / "diffusion_pytorch_model.safetensors",
              dir / "Wan2.1_VAE.pth"};
    case Component::preview_decoder:
      // The public files go by several names (taew2_1.pth, taew2_2.safetensors):
      // a folder is only a bundled model's.
      return {dir / "preview_decoder.safetensors"};
    case Component::dit: break;  // dit::find_dit_weights knows the shard index too
  }
  return {};
}

bool same_file(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  const bool same = fs::equivalent(a, b, ec);
  return ec ? a.lexically_normal() == b.lexically_normal() : same;
}

// The bundled manifest beside `file`, when there is one; its configs serve
// the files it names (the bundled default's parts passed one by one).
std::optional<ModelFiles> manifest_beside(const fs::path& file) {
  const fs::path manifest = file.parent_path() / "model.json";
  if (!is_plain_file(manifest)) return std::nullopt;
  return manifest_files(read_json_config(manifest), file.parent_path(), manifest, /*check_files=*/false);
}

std::optional<dit::DitConfig> config_beside(const fs::path& file) {
  std::optional<dit::DitConfig> beside;
  const fs::path config = file.parent_path() / "config.json";
  if (is_plain_file(config)) {
    const nlohmann::json raw = read_json_config(config);
    const std::string where = "config '" + config.string() + "'";
    beside = is_diffusers_dit_config(raw) ? dit_config_from_diffusers(raw, where)
                                          : dit::DitConfig::from_json(raw, where);
  }
  return beside;
}

// The latent channels a DiT takes: patch_embedding.weight is [dim, in_dim, ...].
int64_t dit_in_dim(const io::TensorSource& source) {
  for (const char* name : {"patch_embedding.weight", "model.diffusion_model.patch_embedding.weight"}) {
    if (source.contains(name)) return source.info(name).shape.at(1);
  }
  return 0;
}

// A manifest's config when one names the file; else the Wan2.2 model the
// weights are (TI2V-5B by in_dim 48, the A14B experts when `two_experts`), or
// the Wan2.1 T2V model of the weights' width.
dit::DitConfig dit_config_of(const fs::path& file, const io::TensorSource& source, bool two_experts,
                             std::optional<Wan22Model>& wan22) {
  if (const auto manifest = manifest_beside(file); manifest) {
    if (same_file(manifest->dit, file)) return manifest->dit_config;
    if (manifest->two_experts() && same_file(manifest->low_noise_dit, file)) return manifest->low_noise_dit_config;
  }
  if (two_experts || dit_in_dim(source) == 48) {
    wan22 = wan22_model_of(file, two_experts);
    return wan22_dit_config(*wan22, file, config_beside(file));
  }
  return dit_config_for(source, file, config_beside(file));
}

text_encoder::UMT5Config text_encoder_config_of(const fs::path& file) {
  if (const auto manifest = manifest_beside(file); manifest && same_file(manifest->text_encoder, file)) {
    return manifest->text_encoder_config;
  }
  return shipped_umt5_config();
}

// The latent width of a VAE file: its conv2 (official, Comfy) or
// post_quant_conv (diffusers) maps z_dim to z_dim channels.
int64_t vae_z_dim_of(const io::TensorSource& source) {
  for (const char* name : {"conv2.weight", "first_stage_model.conv2.weight", "post_quant_conv.weight"}) {
    if (source.contains(name)) return source.info(name).shape.at(0);
  }
  return 16;
}

AnyVaeConfig vae_config_of(const fs::path& file, const io::TensorSource& source) {
  if (const auto manifest = manifest_beside(file); manifest && same_file(manifest->vae, file)) {
    return manifest->vae_config;
  }
  // z_dim 48 is the Wan2.2 VAE (TI2V-5B's), 16 the Wan2.1 one.
  if (vae_z_dim_of(source) == 48) return shipped_vae22_config();
  return shipped_vae_config();
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

const char* component_name(Component component) {
  switch (component) {
    case Component::tokenizer: return "tokenizer";
    case Component::text_encoder: return "text encoder";
    case Component::dit: return "DiT";
    case Component::vae: return "VAE";
    case Component::preview_decoder: return "preview decoder";
  }
  return "?";
}

const char* component_flag(Component component) {
  switch (component) {
    case Component::tokenizer: return "--tokenizer";
    case Component::text_encoder: return "--text-encoder";
    case Component::dit: return "--dit";
    case Component::vae: return "--vae";
    case Component::preview_decoder: return "--preview-decoder";
  }
  return "?";
}

std::optional<ComponentMatch> identify_component(const io::TensorSource& source) {
  // Each component's own marker: the DiT's patch embedding (every DiT
  // layout names it so), then the text encoder's and the VAE's detectors.
  if (source.contains("patch_embedding.weight") || source.contains("model.diffusion_model.patch_embedding.weight")) {
    return ComponentMatch{Component::dit, dit::layout_name(dit::detect_dit_layout(source))};
  }
  try {
    const text_encoder::TextEncoderLayout layout = text_encoder::detect_text_encoder_layout(source);
    return ComponentMatch{Component::text_encoder, std::string(text_encoder::layout_name(layout)) +
                                                       (io::is_scaled_fp8(source) ? " (scaled fp8)" : "")};
  } catch (const ModelError&) {
  }
  try {
    return ComponentMatch{Component::vae, vae::layout_name(vae::detect_vae_layout(source))};
  } catch (const ModelError&) {
  }
  if (vae::is_tiny_decoder(source)) return ComponentMatch{Component::preview_decoder, "taehv"};
  return std::nullopt;
}

fs::path find_component_file(Component component, const fs::path& given) {
  std::error_code ec;
  if (!fs::exists(given, ec)) throw ModelError(quoted(component, given) + ": no such file or directory");
  if (!is_folder(given)) return given;
  if (component == Component::dit) {
    try {
      return dit::find_dit_weights(given);
    } catch (const ModelError& e) {
      throw ModelError(std::string(component_flag(component)) + ": " + e.what());
    }
  }
  const std::vector<fs::path> names = candidates(component, given);
  std::string tried;
  for (const fs::path& path : names) {
    if (is_plain_file(path)) return path;
    tried += (tried.empty() ? "" : ", ") + path.lexically_relative(given).string();
  }
  throw ModelError(quoted(component, given) + ": a folder without a " + component_name(component) +
                   " file (looked for " + tried + ")");
}

ComponentFile require_component(Component component, const fs::path& given) {
  const fs::path file = find_component_file(component, given);
  std::unique_ptr<io::TensorSource> source;
  try {
    source = io::open_weights(file);
  } catch (const Error& e) {
    // Not a weights file: what --tokenizer takes (the tokenizer's own loader
    // says whether it is a sentencepiece model).
    if (component == Component::tokenizer) return {file, nullptr};
    if (ends_with(file.filename().string(), ".model")) {
      throw ModelError(quoted(component, file) + ": is a sentencepiece tokenizer, not a " +
                       component_name(component) + " checkpoint; pass it to --tokenizer");
    }
    throw ModelError(std::string(component_flag(component)) + ": " + e.what());
  }
  const std::optional<ComponentMatch> match = identify_component(*source);
  if (match && match->component == component) return {file, std::move(source)};
  if (match) {
    throw ModelError(quoted(component, file) + ": is a " + component_name(match->component) + " checkpoint (" +
                     match->layout + " layout), not a " +
                     (component == Component::tokenizer ? std::string("sentencepiece tokenizer")
                                                        : std::string(component_name(component)) + " checkpoint") +
                     "; pass it to " + component_flag(match->component));
  }
  throw ModelError(quoted(component, file) + ": not a " + component_name(component) + " checkpoint: its " +
                   std::to_string(source->size()) +
                   " tensors match no known DiT, text encoder, VAE or preview decoder layout");
}

ModelFiles with_component_files(ModelFiles files, const ModelSpec& spec) {
  if (spec.tokenizer) files.tokenizer = require_component(Component::tokenizer, *spec.tokenizer).path;
  // Each replaced part is checked against its config now, from the header
  // opened once here: a mismatch is one line before minutes of loading.
  if (spec.text_encoder) {
    ComponentFile encoder = require_component(Component::text_encoder, *spec.text_encoder);
    files.text_encoder = encoder.path;
    files.text_encoder_config = text_encoder_config_of(files.text_encoder);
    const auto source = text_encoder::text_encoder_view(std::move(encoder.source));
    const io::KeyMap map =
        text_encoder::text_encoder_key_map(text_encoder::detect_text_encoder_layout(*source), *source);
    text_encoder::check_config_against_weights(files.text_encoder_config, *source, map);
  }
  if (spec.low_noise_dit && !spec.dit) {
    throw ModelError("--low-noise-dit '" + spec.low_noise_dit->string() + "': needs --dit, the high-noise expert");
  }
  if (spec.dit) {
    // A Wan2.2 DiT given alone brings its model's defaults (and boundary):
    // the folder's were another model's.
    std::optional<Wan22Model> wan22;
    const bool two = spec.low_noise_dit.has_value();
    const ComponentFile dit = require_component(Component::dit, *spec.dit);
    files.dit = dit.path;
    files.dit_config = dit_config_of(files.dit, *dit.source, two, wan22);
    dit::check_config_against_weights(files.dit_config, *dit.source,
                                      dit::dit_key_map(dit::detect_dit_layout(*dit.source)));
    if (two) {
      const ComponentFile low = require_component(Component::dit, *spec.low_noise_dit);
      files.low_noise_dit = low.path;
      files.low_noise_dit_config = dit_config_of(files.low_noise_dit, *low.source, true, wan22);
      dit::check_config_against_weights(files.low_noise_dit_config, *low.source,
                                        dit::dit_key_map(dit::detect_dit_layout(*low.source)));
    } else {
      files.low_noise_dit.clear();  // one DiT replaces both experts
      files.boundary = 0;
    }
    if (wan22) apply_wan22_defaults(*wan22, files);
  }
  if (spec.vae) {
    const ComponentFile vae = require_component(Component::vae, *spec.vae);
    // A bundle's preview decoder was trained on its own VAE's latents.
    if (!same_file(vae.path, files.vae)) {
      files.preview_decoder.clear();
      files.preview_decoder_config.reset();
    }
    files.vae = vae.path;
    files.vae_config = vae_config_of(files.vae, *vae.source);
  }
  if (spec.preview_decoder) {
    // model.json's config belongs to its own file; this one's comes from its
    // shapes (locate_model_files checks it against the VAE).
    files.preview_decoder = require_component(Component::preview_decoder, *spec.preview_decoder).path;
    files.preview_decoder_config.reset();
    if (const auto manifest = manifest_beside(files.preview_decoder);
        manifest && !manifest->preview_decoder.empty() && same_file(manifest->preview_decoder, files.preview_decoder)) {
      files.preview_decoder_config = manifest->preview_decoder_config;
    }
  }
  return files;
}

void check_parts_agree(const ModelFiles& files) {
  const auto fail = [](const std::string& what, const fs::path& a, const fs::path& b, const std::string& why) {
    throw ModelError(what + " do not fit together: '" + a.string() + "' and '" + b.string() + "': " + why);
  };
  const dit::DitConfig& d = files.dit_config;
  const text_encoder::UMT5Config& t = files.text_encoder_config;
  if (d.text_dim != t.dim) {
    fail("the DiT and the text encoder", files.dit, files.text_encoder,
         "the DiT takes text features of width " + std::to_string(d.text_dim) + " (text_dim), the text encoder gives " +
             std::to_string(t.dim));
  }
  if (t.text_len > d.text_len) {
    fail("the DiT and the text encoder", files.dit, files.text_encoder,
         "the text encoder pads prompts to " + std::to_string(t.text_len) + " tokens, the DiT takes at most " +
             std::to_string(d.text_len) + " (text_len)");
  }
  // The DiT reads the VAE's latent channels, plus for i2v the conditioning
  // y: 4 mask channels and the encoded image's z channels (Wan2.2 trap 19).
  const int64_t z_dim = vae_z_dim(files.vae_config);
  const int64_t in_dim = d.model_type == "i2v" ? z_dim + 4 + z_dim : z_dim;
  if (d.in_dim != in_dim || d.out_dim != z_dim) {
    fail("the DiT and the VAE", files.dit, files.vae,
         "the DiT takes " + std::to_string(d.in_dim) + " and gives " + std::to_string(d.out_dim) +
             " latent channels, the " + vae_kind_name(files.vae_config) + " has " + std::to_string(z_dim) +
             " (z_dim), so a " + d.model_type + " DiT needs " + std::to_string(in_dim) + " and " +
             std::to_string(z_dim));
  }
  if (files.two_experts()) {
    const dit::DitConfig& low = files.low_noise_dit_config;
    if (low.model_type != d.model_type || low.in_dim != d.in_dim || low.out_dim != d.out_dim ||
        low.text_dim != d.text_dim || low.patch_size != d.patch_size) {
      fail("the two experts", files.dit, files.low_noise_dit,
           "the high-noise expert is a " + d.model_type + " DiT of in_dim " + std::to_string(d.in_dim) +
               ", the low-noise one a " + low.model_type + " DiT of in_dim " + std::to_string(low.in_dim));
    }
  }
}

void check_vocabulary_fits(const ModelFiles& files, int tokenizer_vocab) {
  if (tokenizer_vocab > files.text_encoder_config.vocab) {
    throw ModelError("the tokenizer and the text encoder do not fit together: '" + files.tokenizer.string() +
                     "' has " + std::to_string(tokenizer_vocab) + " tokens, '" + files.text_encoder.string() +
                     "' embeds only " + std::to_string(files.text_encoder_config.vocab) + " (vocab)");
  }
}

}  // namespace soragen::pipeline
