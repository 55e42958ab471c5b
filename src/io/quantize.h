// Weight quantization for soragen-convert: float8 e4m3fn with one scale per
// tensor (Comfy's "scaled fp8" layout, which ComfyUI and soragen read), and
// int8 with one scale per output row (soragen's own: the same layout with
// int8 codes). Both are read back through io/scaled_fp8.h as code * scale.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace soragen::io {

// The e4m3fn code nearest to `value` (ties to the even code), saturating at
// +-448, the largest finite value; NaN gives the NaN code 0x7f.
uint8_t float_to_float8_e4m3fn(float value);

struct QuantizedWeight {
  at::Tensor codes;  // uint8 e4m3fn codes, or int8
  at::Tensor scale;  // float32: [1] (fp8) or [rows] (int8)
};

// scale = max|w| / 448, codes = e4m3fn(w / scale). An all-zero tensor gets scale 1.
QuantizedWeight quantize_fp8(const at::Tensor& weight);
// Per row r: scale = max|w_r| / 127, codes = round(w_r / scale) in [-127, 127].
QuantizedWeight quantize_int8_rows(const at::Tensor& weight);

}  // namespace soragen::io
