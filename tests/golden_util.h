// Golden-tensor checks shared by the parity suites: open a file of
// ../shared/golden (copied to tests/data/golden), read its config and
// tolerance from __metadata__, and compare tensors with the file's pass rule.
#pragma once

#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/Context.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/tensor_source.h"
#include "test_util.h"

namespace soragen::test {

// SORAGEN_GOLDEN_DIR, else tests/data/golden.
inline std::filesystem::path golden_dir() {
  if (const char* env = std::getenv("SORAGEN_GOLDEN_DIR"); env && *env) return env;
  return data_dir() / "golden";
}

// Every golden file in `dir` whose name starts with `prefix` (e.g. "vae"
// matches vae.safetensors and vae_16x24.safetensors), sorted.
inline std::vector<std::filesystem::path> golden_files(const std::filesystem::path& dir, const std::string& prefix) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && entry.path().extension() == ".safetensors") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// The same in golden_dir(); the Wan2.2 files are in golden_dir() / "wan22".
inline std::vector<std::filesystem::path> golden_files(const std::string& prefix) {
  return golden_files(golden_dir(), prefix);
}

// CUDA device 0 set up as the golden README asks for GPU parity (fp32
// matrix products and convolutions with TF32 off), or nullopt without a GPU.
inline std::optional<c10::Device> parity_cuda_device() {
  if (!at::hasCUDA()) return std::nullopt;
  at::globalContext().setAllowTF32CuBLAS(false);
  at::globalContext().setAllowTF32CuDNN(false);
  return c10::Device(c10::kCUDA, 0);
}

// Why a CUDA parity test skips, for GTEST_SKIP.
inline const char* no_cuda_reason() {
  return at::hasCUDA() ? "" : "no CUDA device (this build or machine has none); the CPU run covers parity here";
}

class GoldenFile {
 public:
  explicit GoldenFile(const std::filesystem::path& path) : source_(io::open_weights(path)) {
    const auto& meta = source_->metadata();
    config_ = nlohmann::json::parse(meta.at("config"));
    const nlohmann::json tolerance = nlohmann::json::parse(meta.at("tolerance"));
    atol_ = tolerance.at("atol").get<double>();
    rtol_ = tolerance.at("rtol").get<double>();
    if (tolerance.contains("tight")) {
      const auto& tight = tolerance.at("tight");
      tight_pattern_ = tight.at("applies_to_keys_matching").get<std::string>();
      tight_atol_ = tight.at("atol").get<double>();
      tight_rtol_ = tight.at("rtol").get<double>();
    }
  }

  const nlohmann::json& config() const { return config_; }
  const io::TensorSource& source() const { return *source_; }
  bool has(const std::string& name) const { return source_->contains(name); }
  at::Tensor tensor(const std::string& name) const { return source_->load(name); }
  double atol() const { return atol_; }
  double rtol() const { return rtol_; }
  // The rule for the keys the reference computes in float64.
  double tight_atol() const { return tight_atol_; }
  double tight_rtol() const { return tight_rtol_; }

  // Names of stored tensors starting with `prefix`.
  std::vector<std::string> names_with_prefix(const std::string& prefix) const {
    std::vector<std::string> out;
    for (const auto& name : source_->names()) {
      if (name.rfind(prefix, 0) == 0) out.push_back(name);
    }
    return out;
  }

  // The golden README's rule: integers exactly equal; floats within
  // atol + rtol*|golden| elementwise, with atol 1e-6 and rtol 0 for the keys
  // the reference computes in float64 (sinusoid, RoPE table, sigmas).
  ::testing::AssertionResult matches(const std::string& name, const at::Tensor& actual) const {
    const at::Tensor golden = tensor(name);
    return compare(name, golden, actual);
  }

  ::testing::AssertionResult compare(const std::string& name, const at::Tensor& golden_in,
                                     const at::Tensor& actual_in) const {
    const at::Tensor golden = golden_in.cpu();
    const at::Tensor actual = actual_in.detach().cpu();
    if (golden.sizes() != actual.sizes()) {
      return ::testing::AssertionFailure() << name << ": shape " << actual.sizes() << ", golden " << golden.sizes();
    }
    if (!at::isFloatingType(golden.scalar_type())) {
      const at::Tensor diff = actual.to(at::kLong).ne(golden.to(at::kLong));
      if (diff.any().item<bool>()) {
        const int64_t first = diff.flatten().nonzero()[0].item<int64_t>();
        return ::testing::AssertionFailure()
               << name << ": integer mismatch at flat index " << first << ": "
               << actual.flatten()[first].item<int64_t>() << " vs golden " << golden.flatten()[first].item<int64_t>();
      }
      return ::testing::AssertionSuccess();
    }
    const bool is_tight = std::regex_search(name, std::regex(tight_pattern_));
    const double atol = is_tight ? tight_atol_ : atol_;
    const double rtol = is_tight ? tight_rtol_ : rtol_;
    const at::Tensor g = golden.to(at::kDouble).flatten();
    const at::Tensor a = actual.to(at::kDouble).flatten();
    const at::Tensor err = (a - g).abs();
    const at::Tensor bad = err.gt(atol + rtol * g.abs()) | (a.isnan() != g.isnan());
    if (bad.any().item<bool>()) {
      const int64_t first = bad.nonzero()[0].item<int64_t>();
      return ::testing::AssertionFailure()
             << name << ": " << bad.sum().item<int64_t>() << " of " << g.numel() << " values outside atol " << atol
             << " rtol " << rtol << "; max |diff| " << err.nan_to_num(0).max().item<double>()
             << "; first at flat index " << first << ": " << a[first].item<double>() << " vs golden "
             << g[first].item<double>();
    }
    return ::testing::AssertionSuccess() << name << ": max |diff| " << err.max().item<double>();
  }

  // The pass rule over a whole file: every output.* and debug.* tensor must
  // have a value in `produced` and match it. Returns how many output.*
  // tensors were compared.
  size_t expect_all_match(const std::map<std::string, at::Tensor>& produced, const std::string& label) const {
    size_t outputs = 0;
    for (const auto& name : source_->names()) {
      const bool is_output = name.rfind("output.", 0) == 0;
      if (!is_output && name.rfind("debug.", 0) != 0) continue;
      const auto it = produced.find(name);
      if (it == produced.end()) {
        ADD_FAILURE() << label << ": no C++ value for golden tensor " << name;
        continue;
      }
      const ::testing::AssertionResult result = matches(name, it->second);
      EXPECT_TRUE(result) << label;
      if (result) std::cout << "  " << label << " " << result.message() << "\n";
      if (is_output) ++outputs;
    }
    return outputs;
  }

 private:
  std::unique_ptr<io::TensorSource> source_;
  nlohmann::json config_;
  double atol_ = 0;
  double rtol_ = 0;
  // The README's tight rule for values the reference computes in float64;
  // files that do not state one still get it.
  std::string tight_pattern_ = "(sinusoid|rope_freqs|\\.sigmas$)";
  double tight_atol_ = 1e-6;
  double tight_rtol_ = 0.0;
};

}  // namespace soragen::test
