// Single component files as users download them (--tokenizer, --text-encoder,
// --dit, --vae, --preview-decoder): a file or folder is resolved to its weights, identified by
// its tensor names (which component, which layout), given its config, and
// checked against the other parts before any weight is read.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "io/tensor_source.h"
#include "pipeline/model_files.h"
#include "soragen/options.h"

namespace soragen::pipeline {

enum class Component { tokenizer, text_encoder, dit, vae, preview_decoder };

const char* component_name(Component component);  // "tokenizer", "text encoder", "DiT", "VAE", "preview decoder"
const char* component_flag(Component component);  // "--tokenizer", ...

// What a weights file holds, decided from its tensor names only.
struct ComponentMatch {
  Component component;
  std::string layout;  // the component's layout_name(), e.g. "comfy", "hf (scaled fp8)"
};
std::optional<ComponentMatch> identify_component(const io::TensorSource& source);

// The file a flag's path stands for: the path itself, or the usual name
// inside a folder (spiece.model, model.safetensors, diffusion_pytorch_model
// .safetensors, ... also in the tokenizer/, text_encoder/, transformer/ and
// vae/ subfolders; a bundled model's preview_decoder.safetensors). Throws ModelError naming the flag and what was looked for.
std::filesystem::path find_component_file(Component component, const std::filesystem::path& given);

// A component file and its opened header (null for the tokenizer, which is
// not a weights file).
struct ComponentFile {
  std::filesystem::path path;
  std::unique_ptr<io::TensorSource> source;
};

// find_component_file, then: the file holds `component` (else one ModelError
// naming the file, what it is and the flag it belongs to).
ComponentFile require_component(Component component, const std::filesystem::path& given);

// `base` with each component that `spec` names replaced by that file and its
// config: a model.json beside the file that names it, else (DiT) a
// config.json beside it, else the shipped config (the DiT's by width).
// Replaced parts are checked against their configs here, from the headers.
ModelFiles with_component_files(ModelFiles base, const ModelSpec& spec);

// Parts that cannot work together: the DiT's text_dim against the text
// encoder's width, the DiT's text_len against the tokenizer's padding, the
// DiT's latent channels against the VAE's. One ModelError naming both files.
void check_parts_agree(const ModelFiles& files);

// The tokenizer's vocabulary must fit the text encoder's embedding rows.
void check_vocabulary_fits(const ModelFiles& files, int tokenizer_vocab);

}  // namespace soragen::pipeline
