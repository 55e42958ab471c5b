// Helpers shared by the test binaries.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace soragen::test {

// tests/data in the source tree (overridable with SORAGEN_TEST_DATA_DIR).
inline std::filesystem::path data_dir() {
  if (const char* env = std::getenv("SORAGEN_TEST_DATA_DIR"); env && *env) return env;
  return SORAGEN_TEST_DATA_DIR;
}

// The build directory, where the executables live.
inline std::filesystem::path build_dir() { return SORAGEN_BUILD_DIR; }

struct CommandResult {
  int exit_code = -1;  // the process's exit status, or 128+signal when killed
  std::string output;  // stdout and stderr together
};

// Runs a shell command line, capturing its output.
inline CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return result;
  std::array<char, 4096> buffer{};
  std::size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) result.exit_code = 128 + WTERMSIG(status);
  return result;
}

// A fresh empty directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "soragen-test-XXXXXX").string();
    if (mkdtemp(pattern.data())) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace soragen::test
