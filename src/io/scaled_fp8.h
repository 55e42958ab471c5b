// Comfy's "scaled fp8" checkpoints (wan2.1_t2v_14B_fp8_scaled.safetensors,
// umt5_xxl_fp8_e4m3fn_scaled.safetensors; comfy/ops.py): each Linear weight
// is float8_e4m3fn beside a `.scale_weight` (one value, or one per output
// row), and the real weight is weight * scale_weight. A `scaled_fp8` marker
// tensor names the format; `.scale_input` only matters to fp8 matmuls.
// The view below reads such a file as plain float32 weights, so loading
// code never sees the scales.
#pragma once

#include <memory>
#include <set>
#include <string>

#include "io/tensor_source.h"

namespace soragen::io {

// True when `source` holds a scaled_fp8 marker or any `.scale_weight`.
bool is_scaled_fp8(const TensorSource& source);

// `source` with each scaled weight read as weight * scale_weight (float32)
// and the marker and scale tensors hidden. The first form borrows `source`,
// which must outlive the view; the second owns it.
std::unique_ptr<TensorSource> scaled_fp8_view(const TensorSource& source);
// The same view, but the weights named in `kept` are read as their stored
// codes, with their `.scale_weight` shown beside them (as stored): for a model
// that multiplies by the codes itself (dit/quantized_linear.h).
std::unique_ptr<TensorSource> scaled_fp8_view(const TensorSource& source, std::set<std::string> kept);
std::unique_ptr<TensorSource> dequantize_scaled_fp8(std::unique_ptr<TensorSource> source);

}  // namespace soragen::io
