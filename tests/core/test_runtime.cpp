#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <fstream>
#include <set>
#include <string>

#include "core/runtime.h"
#include "soragen/error.h"

namespace soragen::core {
namespace {

TEST(Runtime, ParsesCpuDevice) {
  EXPECT_TRUE(parse_device("cpu").is_cpu());
}

TEST(Runtime, AutoDevicePicksCudaOnlyWhenPresent) {
  EXPECT_EQ(parse_device("auto").is_cuda(), torch::cuda::is_available());
}

TEST(Runtime, RejectsMalformedDevices) {
  for (const char* bad : {"gpu", "cuda:", "cuda:x", "cuda:-1", "CPU", ""}) {
    try {
      parse_device(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("--device"), std::string::npos) << e.what();
    }
  }
}

TEST(Runtime, CudaWithoutGpuIsAUsageError) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "a GPU is present";
  EXPECT_THROW(parse_device("cuda"), UsageError);
  EXPECT_THROW(parse_device("cuda:0"), UsageError);
}

TEST(Runtime, DtypeAutoDependsOnDevice) {
  EXPECT_EQ(parse_dtype("auto", c10::Device(c10::kCPU)), c10::kFloat);
  EXPECT_EQ(parse_dtype("auto", c10::Device(c10::kCUDA, 0)), c10::kBFloat16);
  EXPECT_EQ(parse_dtype("fp16", c10::Device(c10::kCPU)), c10::kHalf);
  EXPECT_EQ(dtype_name(parse_dtype("bf16", c10::Device(c10::kCPU))), "bf16");
  EXPECT_THROW(parse_dtype("float32", c10::Device(c10::kCPU)), UsageError);
}

// Zen 4 and Sapphire Rapids have avx512_bf16; Skylake-X and Ice Lake have
// AVX-512 without it (bf16 emulated by oneDNN: no faster than fp32); the
// AVX2-only EPYCs have neither.
TEST(Runtime, FastBf16NeedsNativeBf16DotProducts) {
  using soragen::core::cpu_flags_have_fast_bf16_matmul;
  const std::set<std::string> avx512{"avx2", "avx512f", "avx512bw", "avx512vl", "avx512dq"};
  std::set<std::string> zen4 = avx512;
  zen4.insert("avx512_bf16");
  std::set<std::string> sapphire = avx512;
  sapphire.insert("amx_bf16");
  EXPECT_TRUE(cpu_flags_have_fast_bf16_matmul(zen4));
  EXPECT_TRUE(cpu_flags_have_fast_bf16_matmul(sapphire));
  EXPECT_FALSE(cpu_flags_have_fast_bf16_matmul(avx512));
  EXPECT_FALSE(cpu_flags_have_fast_bf16_matmul({"avx2", "fma"}));
  EXPECT_FALSE(cpu_flags_have_fast_bf16_matmul({"avx2", "avx512_bf16"}));  // without oneDNN's AVX-512 base
}

// Cascade Lake, Zen 4 (avx512_vnni), Alder Lake (avx_vnni) and Sapphire
// Rapids (amx_int8) add u8 x s8 products into int32 in one instruction; the
// AVX2-only EPYCs and Skylake-X saturate int16 pairs instead.
TEST(Runtime, Int8DotProductsNeedVnni) {
  using soragen::core::cpu_flags_have_int8_dot_products;
  EXPECT_TRUE(cpu_flags_have_int8_dot_products({"avx2", "avx512f", "avx512_vnni"}));
  EXPECT_TRUE(cpu_flags_have_int8_dot_products({"avx2", "avx_vnni"}));
  EXPECT_TRUE(cpu_flags_have_int8_dot_products({"avx2", "amx_int8"}));
  EXPECT_FALSE(cpu_flags_have_int8_dot_products({"avx2", "fma"}));
  EXPECT_FALSE(cpu_flags_have_int8_dot_products({"avx2", "avx512f", "avx512bw", "avx512vl", "avx512dq"}));
}

// This machine's flags are read (every x86-64 Linux CPU reports sse2).
TEST(Runtime, CpuFlagsAreRead) {
  if (!std::ifstream("/proc/cpuinfo")) GTEST_SKIP() << "no /proc/cpuinfo";
  EXPECT_TRUE(soragen::core::cpu_flags().count("sse2") || soragen::core::cpu_flags().count("asimd") ||
              soragen::core::cpu_flags().count("fp"))
      << soragen::core::cpu_flags().size() << " flags read";
}

TEST(Runtime, SetThreadsTakesEffect) {
  EXPECT_EQ(set_threads(1), 1);
  EXPECT_GE(set_threads(0), 1);  // 0 = all cores
}

}  // namespace
}  // namespace soragen::core
