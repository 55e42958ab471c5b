// Device, dtype and thread settings, parsed from user strings once.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <set>
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

// Whether libtorch's CPU bf16 matrix product is faster than fp32 here: the
// CPU has native bf16 dot products (avx512_bf16, or AMX) on top of the
// AVX-512 BW/VL/DQ that oneDNN's bf16 kernels need. Without oneDNN's path
// libtorch 1.13 falls back to a scalar loop: 0.5 GFLOP/s against 30+ for
// fp32 on an AVX2-only EPYC (measured); with AVX-512 but no avx512_bf16,
// oneDNN emulates the bf16 products with fp32 ones, which cannot beat fp32.
// Either way bf16 weights are then multiplied in fp32. Read once from
// /proc/cpuinfo (decided by flags, not timing, so a seed gives the same video
// every run).
bool cpu_has_fast_bf16_matmul();

// The rule above on a set of /proc/cpuinfo flags.
bool cpu_flags_have_fast_bf16_matmul(const std::set<std::string>& flags);

// Whether the CPU multiplies 8-bit integers into 32-bit sums in one
// instruction (VNNI: avx512_vnni, avx_vnni, or AMX). Without it, int8 GEMMs
// use vpmaddubsw, which adds two u8 x s8 products into a saturating int16:
// 255 x 127 x 2 overflows it, so activations must be quantized to 7 bits
// there (dit/quantized_linear.h). Read once from /proc/cpuinfo.
bool cpu_has_int8_dot_products();

// The rule above on a set of /proc/cpuinfo flags.
bool cpu_flags_have_int8_dot_products(const std::set<std::string>& flags);

// The flags of /proc/cpuinfo's first processor, read once (empty where
// there is no /proc/cpuinfo).
const std::set<std::string>& cpu_flags();

// The dtype to multiply weights stored in `weight_dtype` in: fp32 for bf16
// on a CPU without the fast bf16 product (above), the weights' own otherwise.
c10::ScalarType matmul_dtype(const c10::Device& device, c10::ScalarType weight_dtype);

// libtorch runs on one thread by default on Debian (docs/platform.md, trap 3);
// threads <= 0 means all cores. Returns the count that is in force.
int set_threads(int threads);

}  // namespace soragen::core
