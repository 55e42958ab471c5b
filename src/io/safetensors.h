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

// Validates the whole header (dtype, shape, offsets inside the data area, no
// overlaps, byte count == numel * element size, `__metadata__` strings only).
std::unique_ptr<TensorSource> open_safetensors(const std::filesystem::path& path);

// A *.safetensors.index.json ({"weight_map": {tensor: shard file}}): all
// shards as one source. Every shard is opened and every mapped tensor checked
// to be in its shard.
std::unique_ptr<TensorSource> open_safetensors_index(const std::filesystem::path& path);

}  // namespace soragen::io
