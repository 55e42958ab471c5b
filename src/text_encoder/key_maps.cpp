#include "text_encoder/key_maps.h"

#include <ATen/ATen.h>

#include <utility>
#include <vector>

#include "io/scaled_fp8.h"
#include "soragen/error.h"

namespace soragen::text_encoder {
namespace {

using Kind = io::KeyRename::Kind;

// Layer 0's query weight in each spelling: enough to tell the layouts apart.
constexpr const char* kWanProbe = "blocks.0.attn.q.weight";
constexpr const char* kHfProbe = "encoder.block.0.layer.0.SelfAttention.q.weight";
constexpr const char* kHfBareProbe = "block.0.layer.0.SelfAttention.q.weight";

// HF UMT5 names without the "encoder." prefix -> Wan2.1 names. Verified
// against transformers' modeling_umt5.py (UMT5LayerSelfAttention,
// UMT5LayerFF, UMT5DenseGatedActDense: wi_0 is the GELU branch) and
// ComfyUI's comfy/text_encoders/t5.py (the same names, used by its umT5 files).
// The position-bias rule must come before the generic SelfAttention one.
const std::vector<io::KeyRename>& hf_bare_renames() {
  static const std::vector<io::KeyRename> renames = {
      {Kind::prefix, "block.", "blocks."},
      {Kind::prefix, "final_layer_norm.", "norm."},
      {Kind::prefix, "shared.", "token_embedding."},
      {Kind::prefix, "embed_tokens.", "token_embedding."},
      {Kind::substring, ".layer.0.SelfAttention.relative_attention_bias.", ".pos_embedding.embedding."},
      {Kind::substring, ".layer.0.SelfAttention.", ".attn."},
      {Kind::substring, ".layer.0.layer_norm.", ".norm1."},
      {Kind::substring, ".layer.1.DenseReluDense.wi_0.", ".ffn.gate.0."},
      {Kind::substring, ".layer.1.DenseReluDense.wi_1.", ".ffn.fc1."},
      {Kind::substring, ".layer.1.DenseReluDense.wo.", ".ffn.fc2."},
      {Kind::substring, ".layer.1.layer_norm.", ".norm2."},
  };
  return renames;
}

}  // namespace

const char* layout_name(TextEncoderLayout layout) {
  switch (layout) {
    case TextEncoderLayout::wan: return "wan";
    case TextEncoderLayout::hf: return "hf";
    case TextEncoderLayout::hf_bare: return "hf_bare";
  }
  return "unknown";
}

TextEncoderLayout detect_text_encoder_layout(const io::TensorSource& source) {
  if (source.contains(kWanProbe)) return TextEncoderLayout::wan;
  if (source.contains(kHfProbe)) return TextEncoderLayout::hf;
  if (source.contains(kHfBareProbe)) return TextEncoderLayout::hf_bare;
  throw ModelError(source.error_prefix() + "not a umT5 encoder checkpoint: none of '" + kWanProbe + "', '" +
                   kHfProbe + "', '" + kHfBareProbe + "' is present (" + std::to_string(source.size()) +
                   " tensors)");
}

io::KeyMap text_encoder_key_map(TextEncoderLayout layout, const io::TensorSource& source) {
  io::KeyMap map;
  if (layout == TextEncoderLayout::wan) return map;
  const std::string prefix = layout == TextEncoderLayout::hf ? "encoder." : "";
  map.dropped_prefixes = {"decoder.", "lm_head."};
  // The tied embedding: read shared.weight when present, else embed_tokens.
  if (source.contains("shared.weight")) map.dropped_prefixes.push_back(prefix + "embed_tokens.");
  if (!prefix.empty()) map.renames.push_back({Kind::prefix, prefix, ""});
  const auto& rest = hf_bare_renames();
  map.renames.insert(map.renames.end(), rest.begin(), rest.end());
  return map;
}

std::unique_ptr<io::TensorSource> open_text_encoder_weights(const std::filesystem::path& path) {
  std::filesystem::path file = path;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    file.clear();
    for (const char* name : {"model.safetensors.index.json", "model.safetensors"}) {
      if (std::filesystem::exists(path / name, ec)) {
        file = path / name;
        break;
      }
    }
    if (file.empty()) {
      throw ModelError("weights '" + path.string() +
                       "': directory holds neither model.safetensors.index.json nor model.safetensors");
    }
  }
  return text_encoder_view(io::open_weights(file));
}

std::unique_ptr<io::TensorSource> text_encoder_view(std::unique_ptr<io::TensorSource> source) {
  return io::is_scaled_fp8(*source) ? io::dequantize_scaled_fp8(std::move(source)) : std::move(source);
}

}  // namespace soragen::text_encoder
