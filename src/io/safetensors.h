// safetensors: an 8-byte little-endian header length, a JSON header naming
// each tensor's dtype, shape and byte range, then the raw data. The whole file
// is memory-mapped; a tensor is read only when loaded.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "io/tensor_source.h"

namespace soragen::io {

// Headers above this are refused before any allocation (the reference
// implementation uses the same bound).
constexpr uint64_t kMaxSafetensorsHeaderBytes = 100ull << 20;

// Bounds past which a header is refused, each with its own one-line error.
struct SafetensorsLimits {
  // A 14B checkpoint has ~1,100 tensors; more than this is no model.
  size_t max_tensors = 1u << 20;
  // libtorch itself stops at 64 dimensions; weights never pass 5.
  size_t max_rank = 16;
};

class MappedFile;

// Validates the whole header (dtype, shape, offsets inside the data area, no
// overlaps, byte count == numel * element size, `__metadata__` strings only).
std::unique_ptr<TensorSource> open_safetensors(const std::filesystem::path& path);
// The same over a mapping or a buffer (MappedFile::from_bytes).
std::unique_ptr<TensorSource> open_safetensors(std::shared_ptr<const MappedFile> file,
                                               const SafetensorsLimits& limits = {});

// A *.safetensors.index.json ({"weight_map": {tensor: shard file}}): all
// shards as one source. Every shard is opened and every mapped tensor checked
// to be in its shard.
std::unique_ptr<TensorSource> open_safetensors_index(const std::filesystem::path& path);

}  // namespace soragen::io
