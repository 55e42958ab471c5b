// Rename tables: checkpoint name -> official Wan2.1 / Wan2.2 name.
//
// Verified against (names only):
// - diffusers src/diffusers/models/autoencoders/autoencoder_kl_wan.py:
//   AutoencoderKLWan has encoder / quant_conv / post_quant_conv / decoder;
//   WanEncoder3d: conv_in, down_blocks (a flat ModuleList of WanResidualBlock
//   and WanResample, the official `downsamples` one to one), mid_block
//   {resnets.0, attentions.0, resnets.1}, norm_out, conv_out;
//   WanResidualBlock: norm1, conv1, norm2, conv2, conv_shortcut (the official
//   residual.0/2/3/6 and shortcut); WanAttentionBlock: norm, to_qkv, proj (same);
//   WanResample: resample.1, time_conv (same);
//   WanDecoder3d: conv_in, mid_block, up_blocks.{i}.resnets.{j} (num_res_blocks+1
//   per stage) and up_blocks.{i}.upsamplers.0, norm_out, conv_out.
//   RMS gamma shapes are the same ([C,1,1,1], attention [C,1,1]).
// - diffusers scripts/convert_wan_to_diffusers.py convert_vae: the same
//   pairs, e.g. decoder.upsamples.4.shortcut -> decoder.up_blocks.1.resnets.0.conv_shortcut,
//   decoder.upsamples.{3,7,11} -> decoder.up_blocks.{0,1,2}.upsamplers.0,
//   conv1 -> quant_conv, conv2 -> post_quant_conv, head.0/head.2 -> norm_out/conv_out.
// - ComfyUI comfy/sd.py recognises the Wan2.1 VAE by
//   "decoder.middle.0.residual.0.gamma" and builds comfy/ldm/wan/vae.py, a copy
//   of the official module tree: Comfy-Org's split wan_2.1_vae.safetensors
//   carries the official names unchanged.
// - Wan2.2 (the same file, is_residual=True): WanEncoder3d.down_blocks.{i} is
//   a WanResidualDownBlock {resnets.{j} (num_res_blocks), downsampler (but
//   the last stage), avg_shortcut (no tensors)}, the official
//   encoder.downsamples.{i}.downsamples list in that order; the decoder's
//   WanResidualUpBlock {resnets.{j} (num_res_blocks+1), upsampler} is
//   decoder.upsamples.{i}.upsamples.
#include "vae/key_maps.h"

#include <optional>
#include <string>

#include "soragen/error.h"

namespace soragen::vae {
namespace {

using Kind = io::KeyRename::Kind;

io::KeyRename prefix(std::string from, std::string to) { return {Kind::prefix, std::move(from), std::move(to)}; }
io::KeyRename substring(std::string from, std::string to) { return {Kind::substring, std::move(from), std::move(to)}; }

}  // namespace


const char* layout_name(VaeLayout layout) {
  switch (layout) {
    case VaeLayout::official: return "official";
    case VaeLayout::comfy_checkpoint: return "comfy-checkpoint";
    case VaeLayout::diffusers: return "diffusers";
  }
  return "?";
}

VaeLayout detect_vae_layout(const io::TensorSource& source) {
  if (source.contains("decoder.conv_in.weight") || source.contains("decoder.mid_block.resnets.0.norm1.gamma")) {
    return VaeLayout::diffusers;
  }
  if (source.contains("decoder.conv1.weight") && source.contains("decoder.middle.0.residual.0.gamma")) {
    return VaeLayout::official;
  }
  if (source.contains("first_stage_model.decoder.middle.0.residual.0.gamma")) return VaeLayout::comfy_checkpoint;
  throw ModelError(source.error_prefix() +
                   "not a Wan VAE: none of decoder.conv1.weight (official/Comfy), decoder.conv_in.weight "
                   "(diffusers) or first_stage_model.decoder.middle.0.residual.0.gamma found");
}

namespace {

// The names diffusers shares between its Wan2.1 and Wan2.2 VAEs: residual
// block internals (first, while the names still say "resnets" or
// "down_blocks": ".conv1." occurs nowhere else in the diffusers names), the
// quant convs, and each side's conv_in, mid_block and head.
std::vector<io::KeyRename> shared_diffusers_renames() {
  std::vector<io::KeyRename> renames{
      substring(".norm1.", ".residual.0."),
      substring(".conv1.", ".residual.2."),
      substring(".norm2.", ".residual.3."),
      substring(".conv2.", ".residual.6."),
      substring(".conv_shortcut.", ".shortcut."),
      prefix("quant_conv.", "conv1."),
      prefix("post_quant_conv.", "conv2."),
  };
  for (const std::string part : {"encoder.", "decoder."}) {
    renames.push_back(prefix(part + "conv_in.", part + "conv1."));
    renames.push_back(prefix(part + "mid_block.resnets.0.", part + "middle.0."));
    renames.push_back(prefix(part + "mid_block.attentions.0.", part + "middle.1."));
    renames.push_back(prefix(part + "mid_block.resnets.1.", part + "middle.2."));
    renames.push_back(prefix(part + "norm_out.", part + "head.0."));
    renames.push_back(prefix(part + "conv_out.", part + "head.2."));
  }
  return renames;
}


// The official names need no renames and a Comfy checkpoint only loses its
// prefix, in both VAEs; nullopt for diffusers, whose table is per VAE.
std::optional<io::KeyMap> prefix_only_key_map(VaeLayout layout) {
  io::KeyMap map;
  switch (layout) {
    case VaeLayout::official:
      return map;
    case VaeLayout::comfy_checkpoint:
      map.renames.push_back(prefix("first_stage_model.", ""));
      return map;
    case VaeLayout::diffusers:
      break;
  }
  return std::nullopt;
}

}  // namespace

io::KeyMap vae_key_map(VaeLayout layout, const VaeConfig& config) {
  if (auto map = prefix_only_key_map(layout)) return *map;
  io::KeyMap map;
  if (!config.attn_scales.empty()) {
    // diffusers' WanUpBlock has no attention, so the index regrouping below
    // would be wrong; no released Wan2.1 VAE uses attn_scales.
    throw ModelError("diffusers VAE layout: attn_scales must be empty");
  }
  map.renames = shared_diffusers_renames();
  map.renames.push_back(prefix("encoder.down_blocks.", "encoder.downsamples."));
  // Decoder stage i holds num_res_blocks+1 resnets then (but for the last
  // stage) one upsampler; the official list is those modules in order.
  const int64_t stages = static_cast<int64_t>(config.dim_mult.size());
  int64_t flat = 0;
  for (int64_t i = 0; i < stages; ++i) {
    const std::string block = "decoder.up_blocks." + std::to_string(i) + ".";
    for (int64_t j = 0; j <= config.num_res_blocks; ++j) {
      map.renames.push_back(prefix(block + "resnets." + std::to_string(j) + ".",
                                   "decoder.upsamples." + std::to_string(flat++) + "."));
    }
    if (i + 1 < stages) {
      map.renames.push_back(prefix(block + "upsamplers.0.", "decoder.upsamples." + std::to_string(flat++) + "."));
    }
  }
  return map;
}

io::KeyMap vae22_key_map(VaeLayout layout, const Vae22Config& config) {
  if (auto map = prefix_only_key_map(layout)) return *map;
  io::KeyMap map;
  // diffusers' WanResidualDownBlock / WanResidualUpBlock keep the official
  // stages (one module per stage), but split each stage's `downsamples` /
  // `upsamples` list into resnets plus one downsampler / upsampler, which
  // the official list holds last.
  map.renames = shared_diffusers_renames();
  const int64_t stages = static_cast<int64_t>(config.common.dim_mult.size());
  const int64_t blocks = config.common.num_res_blocks;
  for (int64_t i = 0; i < stages; ++i) {
    const std::string stage = std::to_string(i) + ".";
    for (int64_t j = 0; j < blocks; ++j) {
      map.renames.push_back(prefix("encoder.down_blocks." + stage + "resnets." + std::to_string(j) + ".",
                                   "encoder.downsamples." + stage + "downsamples." + std::to_string(j) + "."));
    }
    map.renames.push_back(prefix("encoder.down_blocks." + stage + "downsampler.",
                                 "encoder.downsamples." + stage + "downsamples." + std::to_string(blocks) + "."));
    for (int64_t j = 0; j <= blocks; ++j) {
      map.renames.push_back(prefix("decoder.up_blocks." + stage + "resnets." + std::to_string(j) + ".",
                                   "decoder.upsamples." + stage + "upsamples." + std::to_string(j) + "."));
    }
    map.renames.push_back(prefix("decoder.up_blocks." + stage + "upsampler.",
                                 "decoder.upsamples." + stage + "upsamples." + std::to_string(blocks + 1) + "."));
  }
  return map;
}

}  // namespace soragen::vae
