// Every umT5 checkpoint layout we read, renamed into the one internal naming
// (the official Wan2.1 keys, see umt5.h). Each layout is a table of renames;
// this is the only place that knows the other spellings.
//
//   wan       models_t5_umt5-xxl-enc-bf16.pth (Wan2.1), our own files
//   hf        HF UMT5EncoderModel names: diffusers text_encoder/, Comfy-Org
//             umt5_xxl_fp16 / _fp8_e4m3fn_scaled .safetensors
//             (encoder.block.N.layer.0.SelfAttention.q.weight, shared.weight, ...)
//   hf_bare   the same without the "encoder." prefix (block.N..., final_layer_norm.weight)
//
// Comfy's "scaled" fp8 files store each Linear weight as float8_e4m3fn with a
// per-tensor `<layer>.scale_weight` (plus `<layer>.scale_input` and a
// top-level `scaled_fp8` marker); they are read through io/scaled_fp8.h.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "io/state_dict.h"
#include "io/tensor_source.h"

namespace soragen::text_encoder {

enum class TextEncoderLayout {
  wan,      // models_t5_umt5-xxl-enc-bf16.pth: the official T5Encoder names
  hf,       // HF UMT5EncoderModel: diffusers text_encoder/, Comfy-Org umt5_xxl_*.safetensors
  hf_bare,  // the HF names without "encoder."
};

// "wan", "hf", "hf_bare".
const char* layout_name(TextEncoderLayout layout);

// Decided by which spelling of layer 0's query weight the source holds.
// Throws ModelError when it holds none (not a umT5 encoder checkpoint).
TextEncoderLayout detect_text_encoder_layout(const io::TensorSource& source);

// The renames for `layout`. HF files may hold the tied embedding twice
// (shared.weight and encoder.embed_tokens.weight); the source decides which
// copy is read. Decoder and LM-head tensors of a full T5 are dropped.
io::KeyMap text_encoder_key_map(TextEncoderLayout layout, const io::TensorSource& source);

// Opens a weights file, or a directory holding one (diffusers text_encoder/:
// model.safetensors.index.json or model.safetensors), and wraps scaled fp8
// files with io::dequantize_scaled_fp8().
std::unique_ptr<io::TensorSource> open_text_encoder_weights(const std::filesystem::path& path);

// An opened source as the encoder reads it: scaled fp8 files wrapped with
// io::dequantize_scaled_fp8(), others as they are.
std::unique_ptr<io::TensorSource> text_encoder_view(std::unique_ptr<io::TensorSource> source);

}  // namespace soragen::text_encoder
