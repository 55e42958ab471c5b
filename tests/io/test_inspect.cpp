#include <gtest/gtest.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <string>

#include "io_test_util.h"

namespace soragen::io {
namespace {

struct Result {
  int code = -1;
  std::string out;  // stdout and stderr together
};

Result run_inspect(const std::string& args) {
  const std::filesystem::path tool = std::filesystem::path(SORAGEN_BUILD_DIR) / "soragen-inspect";
  Result r;
  if (!std::filesystem::exists(tool)) return r;
  FILE* pipe = ::popen(("'" + tool.string() + "' " + args + " 2>&1").c_str(), "r");
  if (!pipe) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) r.out.append(buf, n);
  const int status = ::pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string fixture(const std::string& name) { return "'" + (testing::data_dir() / "io" / name).string() + "'"; }

class Inspect : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(std::filesystem::path(SORAGEN_BUILD_DIR) / "soragen-inspect")) {
      GTEST_SKIP() << "soragen-inspect was not built (no CLI11)";
    }
  }
};

TEST_F(Inspect, ListsTensorsSortedWithTotals) {
  const Result r = run_inspect(fixture("tiny.safetensors"));
  EXPECT_EQ(r.code, 0) << r.out;
  const size_t bias = r.out.find("blocks.0.bias");
  const size_t weight = r.out.find("blocks.0.weight");
  const size_t head = r.out.find("head.weight");
  ASSERT_NE(bias, std::string::npos) << r.out;
  EXPECT_LT(bias, weight);
  EXPECT_LT(weight, head);
  EXPECT_NE(r.out.find("F16    [2]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("total: 3 tensors, 9 parameters"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("metadata keys: config, description"), std::string::npos) << r.out;
}

TEST_F(Inspect, PrintsJson) {
  const Result r = run_inspect(fixture("state_dict.pth") + " --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["format"], "pth");
  EXPECT_EQ(j["tensor_count"], 15);
  EXPECT_EQ(j["tensors"][0]["name"], "bf16");
  EXPECT_EQ(j["tensors"][0]["dtype"], "BF16");
  EXPECT_EQ(j["tensors"][0]["shape"], nlohmann::json({3}));
}

TEST_F(Inspect, BadFileExitsThreeWithOneLine) {
  for (const std::string& file : {fixture("evil.pth"), fixture("truncated.pth"), fixture("absent.safetensors")}) {
    const Result r = run_inspect(file);
    EXPECT_EQ(r.code, 3) << r.out;
    EXPECT_EQ(r.out.rfind("soragen-inspect: weights '", 0), 0u) << r.out;
    EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << r.out;
  }
}

TEST_F(Inspect, UsageErrorsExitTwo) {
  EXPECT_EQ(run_inspect("").code, 2);
  EXPECT_EQ(run_inspect(fixture("tiny.safetensors") + " --bogus").code, 2);
}

// The component and layout come from the same detection the loaders use.
TEST_F(Inspect, NamesTheComponentAndTheModelFamily) {
  const std::filesystem::path model = std::filesystem::path(SORAGEN_SOURCE_MODELS_DIR) / "default";
  Result r = run_inspect("'" + (model / "vae.safetensors").string() + "'");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("component: VAE (official layout)"), std::string::npos) << r.out;
  r = run_inspect("--json '" + (model / "dit.safetensors").string() + "'");
  ASSERT_EQ(r.code, 0) << r.out;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["component"], "DiT");
  EXPECT_EQ(j["layout"], "official");
  EXPECT_EQ(nlohmann::json::parse(run_inspect("--json " + fixture("tiny.safetensors")).out)["component"], nullptr);
  r = run_inspect("'" + model.string() + "'");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("family: bundled"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("dit: " + (model / "dit.safetensors").string()), std::string::npos) << r.out;
}

}  // namespace
}  // namespace soragen::io
