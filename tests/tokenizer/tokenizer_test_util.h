// Shared by the tokenizer tests: the tiny model's path, scratch files and
// environment overrides that undo themselves.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

namespace soragen::tokenizer::testing {

// Trained by tests/data/spm/train.sh; ids hard-coded in the tests come from it.
inline std::filesystem::path tiny_model_path() {
  return std::filesystem::path(SORAGEN_TEST_DATA_DIR) / "spm" / "tiny.model";
}

// A file under gtest's temp dir with the given bytes, named after the test.
inline std::filesystem::path write_scratch_file(const std::string& name, const std::string& bytes) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const auto path = std::filesystem::path(::testing::TempDir()) /
                    (std::string(info->test_suite_name()) + "_" + info->name() + "_" + name);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Sets (or, with nullopt, unsets) an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::optional<std::string>& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value->c_str(), 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

}  // namespace soragen::tokenizer::testing
