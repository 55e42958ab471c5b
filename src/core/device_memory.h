// Peak memory of a CUDA device as libtorch's caching allocator counts it
// (bytes handed to tensors, not the allocator's reserve), for the `-v`
// timings and the benchmarks. On the CPU, and in builds against a libtorch
// without CUDA (Debian's), there is nothing to count: nullopt.
#pragma once

#include <c10/core/Device.h>

#include <cstdint>
#include <optional>

namespace soragen::core {

// Bytes allocated at the peak since the last reset on `device`; nullopt when
// `device` is not a CUDA device or the build has no CUDA.
std::optional<int64_t> peak_device_memory(const c10::Device& device);

// Starts a new peak at the memory allocated now. No-op off CUDA.
void reset_peak_device_memory(const c10::Device& device);

}  // namespace soragen::core
