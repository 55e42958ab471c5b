// Device, dtype and thread settings, parsed from user strings once.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <string>

namespace soragen::core {

// "auto" | "cpu" | "cuda" | "cuda:N". auto picks CUDA device 0 when one is
// present. Throws UsageError naming --device when the string is malformed or
// the device does not exist.
c10::Device parse_device(const std::string& text, const std::string& flag = "--device");

// "auto" | "bf16" | "fp16" | "fp32". auto: bf16 on CUDA, fp32 on CPU.
c10::ScalarType parse_dtype(const std::string& text, const c10::Device& device);

// The dtype's short name as the CLI spells it ("bf16", "fp16", "fp32", ...).
std::string dtype_name(c10::ScalarType dtype);

// Whether libtorch's CPU bf16 matrix product goes through oneDNN here
// (AVX-512 BW/VL/DQ, the check libtorch makes). Without it libtorch 1.13
// falls back to a scalar loop: 0.5 GFLOP/s against 30+ for fp32 on an
// AVX2-only EPYC (measured), so bf16 weights are multiplied in fp32.
bool cpu_has_fast_bf16_matmul();

// libtorch runs on one thread by default on Debian (docs/platform.md, trap 3);
// threads <= 0 means all cores. Returns the count that is in force.
int set_threads(int threads);

}  // namespace soragen::core
