// A restricted reader for the data.pkl of a torch.save archive. It understands
// the pickle opcodes torch.save emits and knows exactly the callables a state
// dict needs (OrderedDict, tensor and parameter rebuilds, typed storages); it
// never calls anything, it only records what the pickle describes. Any other
// global (os.system, builtins.eval, ...) is refused, so a hostile file cannot
// run code; size and nesting limits keep it from exhausting memory.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace soragen::io {

struct PickledTensor {
  std::string storage_key;   // record "data/<key>" in the archive
  std::string storage_type;  // "FloatStorage", "BFloat16Storage", ...
  int64_t storage_offset = 0;  // in elements
  std::vector<int64_t> sizes;
  std::vector<int64_t> strides;  // in elements
};

struct PickleLimits {
  size_t max_stack = 1u << 20;
  size_t max_memo = 1u << 20;
  size_t max_values = 4u << 20;
  size_t max_string = 1u << 20;  // bytes
  size_t max_depth = 64;         // MARK nesting, container nesting, dict flattening
  size_t max_rank = 16;          // dimensions of one tensor
  // Dict entries visited while flattening: a dict memoized once and referred
  // to twice at each of 64 levels would otherwise expand to 2^64 names.
  size_t max_entries = 1u << 20;
  size_t max_name = 1024;               // bytes of one dotted tensor name
  size_t max_names_total = 128u << 20;  // bytes of all names together
};

// Reads a pickled dict (or OrderedDict) of tensors. Nested dicts are flattened
// with dotted names ({"model": {"w": t}} gives "model.w"); values that are not
// tensors or dicts (an epoch counter, a config string) are skipped. Order is
// the pickle's. Throws ModelError(`error_prefix` + one-line problem).
std::vector<std::pair<std::string, PickledTensor>> unpickle_state_dict(
    const uint8_t* data, size_t size, const std::string& error_prefix, const PickleLimits& limits = {});

// The storage type names a torch.save archive may use, with the safetensors
// dtype each holds; nullptr for anything else.
const char* storage_type_dtype(const std::string& storage_type);

}  // namespace soragen::io
