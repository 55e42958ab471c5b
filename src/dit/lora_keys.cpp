#include "dit/lora_keys.h"

#include <algorithm>
#include <array>
#include <utility>

#include "dit/key_maps.h"

namespace soragen::dit {
namespace {

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }
bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Wrappers that trainers put in front of the module names, outermost first.
std::string strip_wrappers(std::string name) {
  for (const char* prefix : {"base_model.model.", "model.diffusion_model.", "diffusion_model.", "transformer."}) {
    if (starts_with(name, prefix)) name.erase(0, std::string(prefix).size());
  }
  return name;
}

// Where the module name ends, and what follows: ".lora_A.weight",
// ".lora_A.default.weight" (a PEFT adapter's name), ".alpha", ".diff", ...
std::optional<std::pair<std::string, LoraPart>> split_part(const std::string& name) {
  static const std::array<std::pair<const char*, LoraPart>, 8> matrices{{
      {".lora_A.", LoraPart::down},
      {".lora_B.", LoraPart::up},
      {".lora_down.", LoraPart::down},
      {".lora_up.", LoraPart::up},
      {".lora.down.", LoraPart::down},
      {".lora.up.", LoraPart::up},
      {".lora_linear_layer.down.", LoraPart::down},
      {".lora_linear_layer.up.", LoraPart::up},
  }};
  for (const auto& [marker, part] : matrices) {
    const std::size_t at = name.find(marker);
    if (at != std::string::npos && ends_with(name, "weight")) return std::make_pair(name.substr(0, at), part);
  }
  for (const auto& [suffix, part] : {std::make_pair(".alpha", LoraPart::alpha),
                                     std::make_pair(".diff_b", LoraPart::diff_bias),
                                     std::make_pair(".diff", LoraPart::diff)}) {
    if (ends_with(name, suffix)) return std::make_pair(name.substr(0, name.size() - std::string(suffix).size()), part);
  }
  return std::nullopt;
}

// kohya writes the module path with '_' for '.'; the names that hold a '_'
// of their own come back whole. Official names are tried first through the
// model's own parameters (exact); this list serves diffusers names.
std::string undo_kohya_underscores(const std::string& flat) {
  std::string dotted = flat;
  for (char& c : dotted) c = c == '_' ? '.' : c;
  static const std::array<const char*, 27> compounds{
      "self_attn",  "cross_attn",      "text_embedding", "time_embedding",     "time_projection",
      "patch_embedding", "norm_q",     "norm_k",         "norm_k_img",         "k_img",
      "v_img",      "img_emb",         "to_q",           "to_k",               "to_v",
      "to_out",     "add_k_proj",      "add_v_proj",     "norm_added_k",       "norm_added_q",
      "condition_embedder", "time_embedder", "text_embedder", "image_embedder", "time_proj",
      "proj_out",   "scale_shift_table"};
  // Longest first, so "norm_k_img" wins over "norm_k", within dot boundaries.
  std::array<std::string, compounds.size()> sorted;
  for (std::size_t i = 0; i < compounds.size(); ++i) sorted[i] = compounds[i];
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  for (const std::string& compound : sorted) {
    std::string spelled = compound;
    for (char& c : spelled) c = c == '_' ? '.' : c;
    const std::string needle = "." + spelled + ".";
    std::string padded = "." + dotted + ".";
    for (std::size_t at = padded.find(needle); at != std::string::npos; at = padded.find(needle, at + 1)) {
      padded.replace(at, needle.size(), "." + compound + ".");
    }
    dotted = padded.substr(1, padded.size() - 2);
  }
  // diffusers' linear_1 / linear_2 end in a digit after the '_'.
  for (const char* linear : {"linear_1", "linear_2"}) {
    const std::string spelled = std::string(linear).replace(6, 1, ".");
    for (std::size_t at = dotted.find(spelled); at != std::string::npos; at = dotted.find(spelled, at + 1)) {
      dotted.replace(at, spelled.size(), linear);
    }
  }
  return dotted;
}

bool names_a_parameter(const std::string& module, const std::set<std::string>& parameters) {
  return parameters.count(module + ".weight") || parameters.count(module + ".bias") || parameters.count(module);
}

// A dotted module name in official or diffusers spelling -> official.
std::string official_module(const std::string& module, const std::set<std::string>& parameters) {
  if (names_a_parameter(module, parameters)) return module;
  const std::optional<std::string> renamed = dit_key_map(DitLayout::diffusers).apply(module + ".weight");
  if (renamed && ends_with(*renamed, ".weight")) {
    const std::string candidate = renamed->substr(0, renamed->size() - std::string(".weight").size());
    if (names_a_parameter(candidate, parameters)) return candidate;
  }
  return module;  // matches nothing: the caller counts it as unmatched
}

}  // namespace

namespace {

std::string flattened(std::string name) {
  std::replace(name.begin(), name.end(), '.', '_');
  return name;
}

}  // namespace

DitParameterNames::DitParameterNames(std::set<std::string> names) : names_(std::move(names)) {
  // A module (the owner of a .weight or .bias) before a bare parameter of the
  // same flat spelling, as kohya names modules.
  for (const std::string& parameter : names_) {
    const std::size_t dot = parameter.rfind('.');
    const std::string owner = dot == std::string::npos ? parameter : parameter.substr(0, dot);
    flat_to_official_.emplace(flattened(owner), owner);
  }
  for (const std::string& parameter : names_) flat_to_official_.emplace(flattened(parameter), parameter);
}

std::optional<std::string> DitParameterNames::unflatten(const std::string& flat) const {
  const auto found = flat_to_official_.find(flat);
  if (found == flat_to_official_.end()) return std::nullopt;
  return found->second;
}

std::optional<LoraKey> parse_lora_key(const std::string& name, const DitParameterNames& parameters) {
  std::string body = strip_wrappers(name);
  bool kohya = false;
  for (const char* prefix : {"lora_unet_", "lora_transformer_"}) {
    if (starts_with(body, prefix)) {
      body.erase(0, std::string(prefix).size());
      kohya = true;
    }
  }
  const auto split = split_part(body);
  if (!split) return std::nullopt;
  std::string module = split->first;
  if (kohya) {
    const std::optional<std::string> official = parameters.unflatten(module);
    module = official ? *official : undo_kohya_underscores(module);
  }
  return LoraKey{official_module(module, parameters.names()), split->second};
}

}  // namespace soragen::dit
