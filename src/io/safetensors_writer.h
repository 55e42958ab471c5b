// Writes tensors as a .safetensors file (the format io::open_weights reads),
// for the embedded default model and training checkpoints.
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <map>
#include <string>

namespace soragen::io {

// Tensors are written contiguous, little-endian, in name order; `metadata`
// becomes the header's __metadata__. The file is written beside the target
// and renamed into place, so a failure never leaves a truncated file. Throws
// OutputError naming the file, or ModelError for a dtype safetensors lacks.
void save_safetensors(const std::filesystem::path& path, const std::map<std::string, at::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace soragen::io
