// The umT5 encoder against the golden tensors of the official Wan2.1 code:
// every t5_encoder* file in SORAGEN_GOLDEN_DIR, each built from its own
// config, every output.* and debug.* tensor under the file's tolerance.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <c10/core/InferenceMode.h>

#include <iostream>
#include <regex>
#include <string>

#include "golden_util.h"
#include "text_encoder/text_encoder.h"

namespace soragen::text_encoder {
namespace {

using test::GoldenFile;

UMT5Config golden_config(const GoldenFile& golden, const std::filesystem::path& path) {
  return UMT5Config::from_json(golden.config(), "golden '" + path.filename().string() + "' config");
}

// Checks one tensor and prints its max |diff| (the figures in the report).
void expect_match(const GoldenFile& golden, const std::string& name, const at::Tensor& actual) {
  const ::testing::AssertionResult result = golden.matches(name, actual);
  EXPECT_TRUE(result);
  if (!result) return;
  if (!at::isFloatingType(golden.tensor(name).scalar_type())) {
    std::cout << "  " << name << ": integers, exactly equal\n";
  } else {
    std::cout << "  " << result.message() << " (atol " << golden.atol() << ", rtol " << golden.rtol() << ")\n";
  }
}

// Runs every check of one golden file on `device`.
void check_golden_file(const std::filesystem::path& path, const c10::Device& device) {
  SCOPED_TRACE(path.string());
  std::cout << path.filename().string() << " on " << device << ":\n";
  const GoldenFile golden(path);
  const UMT5Config config = golden_config(golden, path);
  // The golden file is itself an official-layout checkpoint (plus input.*,
  // output.* and debug.* tensors, which the loader ignores).
  const TextEncoder encoder(config, golden.source(), {device, at::kFloat});
  ASSERT_EQ(encoder.layout(), TextEncoderLayout::wan);

  const at::Tensor ids = golden.tensor("input.ids");
  const at::Tensor mask = golden.tensor("input.mask");
  UMT5Trace trace;
  const at::Tensor hidden = encoder.hidden_states(ids, mask, &trace);
  expect_match(golden, "output.hidden", hidden);

  const std::vector<at::Tensor> contexts = encoder.encode(ids, mask);
  const std::vector<std::string> context_names = golden.names_with_prefix("output.context.");
  ASSERT_EQ(context_names.size(), contexts.size());
  for (size_t b = 0; b < contexts.size(); ++b) {
    expect_match(golden, "output.context." + std::to_string(b), contexts[b]);
  }

  // Every debug tensor the file holds is checked; an unknown one fails, so a
  // newer golden file cannot silently skip a step.
  const std::regex block_out(R"(debug\.block(\d+)\.out)");
  const std::regex relpos(R"(debug\.relpos_bucket_m(\d+)_p(\d+))");
  int checked = 0;
  for (const std::string& name : golden.names_with_prefix("debug.")) {
    std::smatch m;
    if (name == "debug.embed") {
      expect_match(golden, name, trace.embed);
    } else if (name == "debug.block0.pos_bias") {
      expect_match(golden, name, trace.block0_pos_bias);
    } else if (std::regex_match(name, m, block_out)) {
      const size_t i = std::stoul(m[1]);
      ASSERT_LT(i, trace.block_out.size()) << name;
      expect_match(golden, name, trace.block_out[i]);
    } else if (std::regex_match(name, m, relpos)) {
      const int64_t low = std::stoll(m[1]);
      const int64_t high = std::stoll(m[2]);
      const at::Tensor rel = at::arange(-low, high + 1, at::kLong);
      expect_match(golden, name, relative_position_bucket(rel.to(device), config));
    } else {
      ADD_FAILURE() << "golden tensor " << name << " is not checked by this test";
      continue;
    }
    ++checked;
  }
  EXPECT_GE(checked, 3 + config.num_layers) << "expected embed, pos_bias, relpos and every block's output";
}

TEST(text_encoder_parity, EveryGoldenFileOnCpu) {
  const auto files = test::golden_files("t5_encoder");
  ASSERT_FALSE(files.empty()) << "no t5_encoder*.safetensors in " << test::golden_dir();
  for (const auto& path : files) check_golden_file(path, c10::kCPU);
}

TEST(text_encoder_parity, EveryGoldenFileOnCuda) {
  const std::optional<c10::Device> cuda = test::parity_cuda_device();
  if (!cuda) GTEST_SKIP() << test::no_cuda_reason();
  const auto files = test::golden_files("t5_encoder");
  ASSERT_FALSE(files.empty()) << "no t5_encoder*.safetensors in " << test::golden_dir();
  for (const auto& path : files) check_golden_file(path, *cuda);
}

// pipeline.safetensors encodes its prompt and negative prompt as two B=1
// calls with the t5_encoder weights: the trimmed contexts the DiT receives.
TEST(text_encoder_parity, PipelineContextsAsSeparateCalls) {
  const std::filesystem::path pipeline_path = test::golden_dir() / "pipeline.safetensors";
  if (!std::filesystem::exists(pipeline_path)) GTEST_SKIP() << "no " << pipeline_path;
  const GoldenFile pipeline(pipeline_path);
  std::string weights_name;
  for (const auto& name : pipeline.config().value("weights_from", nlohmann::json::array())) {
    if (name.get<std::string>().rfind("t5_encoder", 0) == 0) weights_name = name.get<std::string>();
  }
  ASSERT_FALSE(weights_name.empty()) << "pipeline.safetensors names no t5_encoder weights";
  const GoldenFile weights(test::golden_dir() / weights_name);
  const TextEncoder encoder(golden_config(weights, test::golden_dir() / weights_name), weights.source());

  std::cout << "pipeline.safetensors contexts:\n";
  for (const auto& [prefix, output] : {std::pair<std::string, std::string>{"prompt", "output.context"},
                                       std::pair<std::string, std::string>{"negative", "output.context_null"}}) {
    const std::vector<at::Tensor> contexts =
        encoder.encode(pipeline.tensor("input." + prefix + "_ids"), pipeline.tensor("input." + prefix + "_mask"));
    ASSERT_EQ(contexts.size(), 1u);
    expect_match(pipeline, output, contexts[0]);
  }
}

}  // namespace
}  // namespace soragen::text_encoder
