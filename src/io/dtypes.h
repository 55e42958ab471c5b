// The element types a weights file may hold, by their safetensors names, and
// how each becomes a libtorch tensor.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace soragen::io {

struct DtypeSpec {
  const char* name;     // safetensors spelling
  size_t size;          // bytes per element in the file
  at::ScalarType type;  // dtype of the loaded tensor
  bool float8;          // stored as one byte that load() decodes (libtorch < 2.1)
};

// nullptr when the name is not a dtype we load. `known` (optional) tells a
// valid safetensors dtype we cannot load (U16, C64, ...) from a garbage name.
const DtypeSpec* find_dtype(const std::string& name, bool* known = nullptr);

// The safetensors name of a libtorch dtype ("F32"), or its libtorch name for
// dtypes safetensors cannot express.
std::string safetensors_dtype_name(at::ScalarType type);

// Exact value of one float8 byte: e4m3fn (no infinities, 0x7f/0xff NaN) and
// e5m2 (IEEE-like, with infinities).
float float8_e4m3fn_to_float(uint8_t bits);
float float8_e5m2_to_float(uint8_t bits);

// `bytes` is a uint8 tensor of raw float8 codes; returns float32 values of the
// same shape (or the native float8 dtype on libtorch >= 2.1).
at::Tensor decode_float8(const at::Tensor& bytes, const DtypeSpec& spec);

}  // namespace soragen::io
