// Rename tables from each DiT checkpoint layout to the official WanModel
// names. Diffusers names were checked against diffusers'
// models/transformers/transformer_wan.py (WanTransformer3DModel,
// WanTransformerBlock, WanAttention, WanTimeTextImageEmbedding) and the
// inverse table TRANSFORMER_KEYS_RENAME_DICT of scripts/convert_wan_to_diffusers.py.
// For t2v every diffusers tensor has the official shape (block
// scale_shift_table [1,6,dim] = modulation, top-level scale_shift_table
// [1,2,dim] = head.modulation), so renaming is all there is to it.
#include "dit/key_maps.h"

#include "io/tensor_source.h"

namespace soragen::dit {
namespace {

using Kind = io::KeyRename::Kind;

io::KeyMap make_diffusers_map() {
  io::KeyMap map;
  map.renames = {
      // Embeddings (WanTimeTextImageEmbedding): TimestepEmbedding and
      // PixArtAlphaTextProjection both name their layers linear_1/linear_2.
      {Kind::prefix, "condition_embedder.time_embedder.linear_1.", "time_embedding.0."},
      {Kind::prefix, "condition_embedder.time_embedder.linear_2.", "time_embedding.2."},
      {Kind::prefix, "condition_embedder.text_embedder.linear_1.", "text_embedding.0."},
      {Kind::prefix, "condition_embedder.text_embedder.linear_2.", "text_embedding.2."},
      {Kind::prefix, "condition_embedder.time_proj.", "time_projection.1."},
      // Output: norm_out has no parameters.
      {Kind::prefix, "proj_out.", "head.head."},
      {Kind::prefix, "scale_shift_table", "head.modulation"},
      // Blocks.
      {Kind::substring, ".scale_shift_table", ".modulation"},
      {Kind::substring, ".attn1.to_q.", ".self_attn.q."},
      {Kind::substring, ".attn1.to_k.", ".self_attn.k."},
      {Kind::substring, ".attn1.to_v.", ".self_attn.v."},
      {Kind::substring, ".attn1.to_out.0.", ".self_attn.o."},
      {Kind::substring, ".attn1.norm_q.", ".self_attn.norm_q."},
      {Kind::substring, ".attn1.norm_k.", ".self_attn.norm_k."},
      {Kind::substring, ".attn2.to_q.", ".cross_attn.q."},
      {Kind::substring, ".attn2.to_k.", ".cross_attn.k."},
      {Kind::substring, ".attn2.to_v.", ".cross_attn.v."},
      {Kind::substring, ".attn2.to_out.0.", ".cross_attn.o."},
      {Kind::substring, ".attn2.norm_q.", ".cross_attn.norm_q."},
      {Kind::substring, ".attn2.norm_k.", ".cross_attn.norm_k."},
      // FeedForward(activation_fn="gelu-approximate"): net.0 is a GELU module
      // holding the first Linear as .proj, net.1 dropout, net.2 the second.
      {Kind::substring, ".ffn.net.0.proj.", ".ffn.0."},
      {Kind::substring, ".ffn.net.2.", ".ffn.2."},
      // Diffusers numbers the norms in call order (norm1, cross-attention
      // norm2, FFN norm3); the official names are norm1, norm3, norm2. Only
      // the cross-attention norm has parameters, but swap both ways so the
      // table stays a bijection.
      {Kind::substring, ".norm2.", ".norm__swap."},
      {Kind::substring, ".norm3.", ".norm2."},
      {Kind::substring, ".norm__swap.", ".norm3."},
  };
  return map;
}

io::KeyMap make_comfy_map() {
  io::KeyMap map;
  map.renames = {{Kind::prefix, "model.diffusion_model.", ""}};
  return map;
}

bool starts_with(const std::string& text, const char* prefix) { return text.rfind(prefix, 0) == 0; }

}  // namespace

const char* layout_name(DitLayout layout) {
  switch (layout) {
    case DitLayout::official: return "official";
    case DitLayout::diffusers: return "diffusers";
    case DitLayout::comfy: return "comfy";
  }
  return "unknown";
}

DitLayout detect_dit_layout(const io::TensorSource& source) {
  bool diffusers = false;
  for (const auto& [name, info] : source.infos()) {
    if (starts_with(name, "model.diffusion_model.")) return DitLayout::comfy;
    if (starts_with(name, "condition_embedder.") || name == "scale_shift_table" ||
        name.find(".attn1.") != std::string::npos) {
      diffusers = true;
    }
  }
  return diffusers ? DitLayout::diffusers : DitLayout::official;
}

const io::KeyMap& dit_key_map(DitLayout layout) {
  static const io::KeyMap official;
  static const io::KeyMap diffusers = make_diffusers_map();
  static const io::KeyMap comfy = make_comfy_map();
  switch (layout) {
    case DitLayout::diffusers: return diffusers;
    case DitLayout::comfy: return comfy;
    case DitLayout::official: break;
  }
  return official;
}

}  // namespace soragen::dit
