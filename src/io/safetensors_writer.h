// Writes tensors as a .safetensors file (the format io::open_weights reads),
// for the embedded default model and training checkpoints.
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>

namespace soragen::io {

// Tensors are written contiguous, little-endian, in name order; `metadata`
// becomes the header's __metadata__. The file is written beside the target
// and renamed into place, so a failure never leaves a truncated file. Throws
// OutputError naming the file, or ModelError for a dtype safetensors lacks.
// The uint8 tensors named in `float8_e4m3` hold e4m3fn codes and are
// written as F8_E4M3 (libtorch < 2.1 has no float8 dtype; a native
// Float8_e4m3fn tensor is written as F8_E4M3 anyway).
void save_safetensors(const std::filesystem::path& path, const std::map<std::string, at::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {},
                      const std::set<std::string>& float8_e4m3 = {});

}  // namespace soragen::io
