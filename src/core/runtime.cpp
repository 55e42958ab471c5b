#include "core/runtime.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "soragen/error.h"

namespace soragen::core {

c10::Device parse_device(const std::string& text, const std::string& flag) {
  if (text == "auto") {
    return torch::cuda::is_available() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  }
  if (text == "cpu") return c10::Device(c10::kCPU);
  if (text == "cuda" || text.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (text.size() > 5) {
      const std::string digits = text.substr(5);
      if (digits.empty() || digits.size() > 3 ||
          digits.find_first_not_of("0123456789") != std::string::npos) {
        throw UsageError(flag + " '" + text + "': expected auto, cpu, cuda or cuda:N");
      }
      index = std::stoi(digits);
    }
    if (!torch::cuda::is_available()) {
      throw UsageError(flag + " '" + text + "': no CUDA device is available in this build or machine");
    }
    const int count = static_cast<int>(torch::cuda::device_count());
    if (index >= count) {
      throw UsageError(flag + " '" + text + "': only " + std::to_string(count) + " CUDA device(s) present");
    }
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw UsageError(flag + " '" + text + "': expected auto, cpu, cuda or cuda:N");
}

c10::ScalarType parse_dtype(const std::string& text, const c10::Device& device) {
  if (text == "auto") return device.is_cuda() ? c10::kBFloat16 : c10::kFloat;
  if (text == "bf16") return c10::kBFloat16;
  if (text == "fp16") return c10::kHalf;
  if (text == "fp32") return c10::kFloat;
  throw UsageError("--dtype '" + text + "': expected auto, bf16, fp16 or fp32");
}

std::string dtype_name(c10::ScalarType dtype) {
  switch (dtype) {
    case c10::kBFloat16: return "bf16";
    case c10::kHalf: return "fp16";
    case c10::kFloat: return "fp32";
    case c10::kDouble: return "fp64";
    default: return c10::toString(dtype);
  }
}

bool cpu_flags_have_fast_bf16_matmul(const std::set<std::string>& flags) {
  const bool onednn_bf16 = flags.count("avx512bw") && flags.count("avx512vl") && flags.count("avx512dq");
  const bool native_bf16 = flags.count("avx512_bf16") || flags.count("amx_bf16");
  return onednn_bf16 && native_bf16;
}

bool cpu_flags_have_int8_dot_products(const std::set<std::string>& flags) {
  return flags.count("avx512_vnni") || flags.count("avx_vnni") || flags.count("amx_int8");
}

const std::set<std::string>& cpu_flags() {
  static const std::set<std::string> flags = [] {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (in && std::getline(in, line)) {
      if (line.rfind("flags", 0) != 0) continue;
      const std::string::size_type colon = line.find(':');
      std::istringstream words(colon == std::string::npos ? std::string() : line.substr(colon + 1));
      return std::set<std::string>{std::istream_iterator<std::string>(words), std::istream_iterator<std::string>()};
    }
    return std::set<std::string>{};
  }();
  return flags;
}

bool cpu_has_fast_bf16_matmul() {
  // Not Linux (no /proc/cpuinfo): assume libtorch's native path is fine.
  static const bool fast = cpu_flags().empty() || cpu_flags_have_fast_bf16_matmul(cpu_flags());
  return fast;
}

bool cpu_has_int8_dot_products() {
  static const bool vnni = cpu_flags_have_int8_dot_products(cpu_flags());
  return vnni;
}

c10::ScalarType matmul_dtype(const c10::Device& device, c10::ScalarType weight_dtype) {
  const bool slow_bf16 = device.is_cpu() && weight_dtype == c10::kBFloat16 && !cpu_has_fast_bf16_matmul();
  return slow_bf16 ? c10::kFloat : weight_dtype;
}

int set_threads(int threads) {
  if (threads <= 0) {
    threads = static_cast<int>(std::thread::hardware_concurrency());
    if (threads <= 0) threads = 1;
  }
  at::set_num_threads(threads);
  return at::get_num_threads();
}

}  // namespace soragen::core
