#include "text_encoder/key_maps.h"

#include <ATen/ATen.h>

#include <utility>
#include <vector>

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

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

constexpr const char* kScaleWeight = ".scale_weight";
constexpr const char* kScaleInput = ".scale_input";
constexpr const char* kScaledMarker = "scaled_fp8";

// Comfy's scaled fp8 (comfy/utils.py convert_old_quants, comfy/ops.py): the
// real weight is weight * scale_weight; scale_input only matters for fp8
// matmuls, which we do not do.
class ScaledFp8Source final : public io::TensorSource {
 public:
  explicit ScaledFp8Source(std::unique_ptr<io::TensorSource> inner)
      : io::TensorSource(inner->path()), inner_(std::move(inner)) {
    metadata_ = inner_->metadata();
    for (const auto& [name, info] : inner_->infos()) {
      if (ends_with(name, kScaledMarker) || ends_with(name, kScaleWeight) || ends_with(name, kScaleInput)) continue;
      infos_[name] = info;
      if (!ends_with(name, ".weight")) continue;
      const std::string scale = name.substr(0, name.size() - 7) + kScaleWeight;
      if (!inner_->contains(scale)) continue;
      scales_[name] = scale;
      infos_[name].dtype = "F32";
    }
  }

  std::string format() const override { return inner_->format(); }

  at::Tensor load(const std::string& name) const override {
    info(name);  // hidden or unknown names throw here
    const auto it = scales_.find(name);
    if (it == scales_.end()) return inner_->load(name);
    const at::Tensor weight = inner_->load(name).to(at::kFloat);
    at::Tensor scale = inner_->load(it->second).to(at::kFloat);
    if (scale.numel() == 1) {
      scale = scale.reshape({});
    } else if (weight.dim() >= 1 && scale.numel() == weight.size(0)) {
      // One scale per output row.
      std::vector<int64_t> shape(static_cast<size_t>(weight.dim()), 1);
      shape[0] = weight.size(0);
      scale = scale.reshape(shape);
    } else {
      throw ModelError(error_prefix() + "tensor '" + it->second + "' has shape " + io::format_shape(scale.sizes()) +
                       ", which does not scale '" + name + "' " + io::format_shape(weight.sizes()));
    }
    return weight * scale;
  }

 private:
  std::unique_ptr<io::TensorSource> inner_;
  std::map<std::string, std::string> scales_;  // weight name -> its scale_weight
};

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

bool is_scaled_fp8(const io::TensorSource& source) {
  for (const auto& entry : source.infos()) {
    if (ends_with(entry.first, kScaledMarker) || ends_with(entry.first, kScaleWeight)) return true;
  }
  return false;
}

std::unique_ptr<io::TensorSource> dequantize_scaled_fp8(std::unique_ptr<io::TensorSource> source) {
  return std::make_unique<ScaledFp8Source>(std::move(source));
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
  return is_scaled_fp8(*source) ? dequantize_scaled_fp8(std::move(source)) : std::move(source);
}

}  // namespace soragen::text_encoder
