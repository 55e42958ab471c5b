// WanModel against the golden tensors of the official Wan2.1 code: every
// dit*.safetensors in the golden directory, every case it holds, every
// output.* and debug.* tensor, with the file's own tolerance.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <iostream>
#include <set>

#include "dit/config.h"
#include "dit/wan_model.h"
#include "dit_test_util.h"
#include "golden_util.h"

namespace soragen::test {
namespace {

dit::DitConfig golden_config(const GoldenFile& golden, const std::filesystem::path& path) {
  return dit::DitConfig::from_json(golden.config(), "golden '" + path.string() + "'");
}

class Checker {
 public:
  explicit Checker(const GoldenFile& golden) : golden_(golden) {}

  void check(const std::string& key, const at::Tensor& actual) {
    checked_.insert(key);
    const ::testing::AssertionResult result = golden_.matches(key, actual);
    EXPECT_TRUE(result);
    if (result) std::cout << "  " << result.message() << "\n";
  }
  void mark(const std::string& key) { checked_.insert(key); }

  // Every output.* and debug.* tensor of the file was compared.
  void expect_all_checked() const {
    for (const auto& prefix : {"output.", "debug."}) {
      for (const auto& key : golden_.names_with_prefix(prefix)) {
        EXPECT_TRUE(checked_.count(key)) << key << " is in the golden file but was not checked";
      }
    }
  }

 private:
  const GoldenFile& golden_;
  std::set<std::string> checked_;
};

// The Wan2.2 TI2V files (per-token timesteps), in their own folder.
std::filesystem::path wan22_dir() { return golden_dir() / "wan22"; }
std::vector<std::filesystem::path> wan22_ti2v_files() { return golden_files(wan22_dir(), "wan22_ti2v_dit"); }

// Both generations' files, for the properties that hold for every DiT.
std::vector<std::filesystem::path> dit_golden_files() {
  std::vector<std::filesystem::path> files = golden_files("dit");
  const auto wan22 = wan22_ti2v_files();
  files.insert(files.end(), wan22.begin(), wan22.end());
  return files;
}

void check_every_file_and_case(const std::vector<std::filesystem::path>& files, const c10::Device& device) {
  for (const auto& path : files) {
    SCOPED_TRACE(path.string());
    std::cout << path.filename().string() << " on " << device << "\n";
    const GoldenFile golden(path);
    const dit::DitConfig config = golden_config(golden, path);
    dit::WanModel model = load_memory_model(config, golden_weights(golden));
    model->to(device);
    Checker checker(golden);

    // Tables the reference computes in float64 (tight tolerance).
    if (golden.has("debug.rope_freqs_cos")) {
      checker.check("debug.rope_freqs_cos", model->rope().cos().to(at::kFloat));
      checker.check("debug.rope_freqs_sin", model->rope().sin().to(at::kFloat));
    }
    if (golden.has("debug.sinusoid.t")) {
      checker.mark("debug.sinusoid.t");  // the input of debug.sinusoid.emb
      checker.check("debug.sinusoid.emb",
                    dit::sinusoidal_embedding(config.freq_dim, golden.tensor("debug.sinusoid.t").to(device)));
    }

    const auto cases = golden_cases(golden);
    ASSERT_FALSE(cases.empty());
    for (const auto& name : cases) {
      SCOPED_TRACE("case " + name);
      const DitCase inputs = golden_case(golden, name);
      std::map<std::string, at::Tensor> captured;
      const auto outputs =
          run_case(model, inputs, [&](const std::string& key, const at::Tensor& value) { captured[key] = value; });
      const auto expected_outputs = golden.names_with_prefix("output." + name + ".x.");
      ASSERT_EQ(outputs.size(), expected_outputs.size());
      for (size_t b = 0; b < outputs.size(); ++b) {
        checker.check("output." + name + ".x." + std::to_string(b), outputs[b]);
      }
      const std::string debug_prefix = "debug." + name + ".";
      for (const auto& key : golden.names_with_prefix(debug_prefix)) {
        const std::string short_name = key.substr(debug_prefix.size());
        const auto it = captured.find(short_name);
        if (it == captured.end()) {
          ADD_FAILURE() << key << ": the model emitted no '" << short_name << "'";
          continue;
        }
        checker.check(key, it->second);
      }
    }
    checker.expect_all_checked();
  }
}

TEST(DitParity, EveryGoldenFileAndCase) {
  const auto files = golden_files("dit");
  ASSERT_FALSE(files.empty()) << "no dit*.safetensors in " << golden_dir();
  check_every_file_and_case(files, c10::kCPU);
}

TEST(DitParity, EveryGoldenFileAndCaseOnCuda) {
  const std::optional<c10::Device> cuda = parity_cuda_device();
  if (!cuda) GTEST_SKIP() << no_cuda_reason();
  const auto files = golden_files("dit");
  ASSERT_FALSE(files.empty()) << "no dit*.safetensors in " << golden_dir();
  check_every_file_and_case(files, *cuda);
}

TEST(DitParity, EveryWan22Ti2vFileAndCase) {
  const auto files = wan22_ti2v_files();
  ASSERT_FALSE(files.empty()) << "no wan22_ti2v_dit*.safetensors in " << wan22_dir();
  check_every_file_and_case(files, c10::kCPU);
}

TEST(DitParity, EveryWan22Ti2vFileAndCaseOnCuda) {
  const std::optional<c10::Device> cuda = parity_cuda_device();
  if (!cuda) GTEST_SKIP() << no_cuda_reason();
  const auto files = wan22_ti2v_files();
  ASSERT_FALSE(files.empty()) << "no wan22_ti2v_dit*.safetensors in " << wan22_dir();
  check_every_file_and_case(files, *cuda);
}

// The cfg case batches two samples in one call; each must equal its own B=1
// call (the reference makes two calls), including the zero-token padding of
// ragged batches.
TEST(DitParity, BatchEqualsSeparateCalls) {
  for (const auto& path : dit_golden_files()) {
    SCOPED_TRACE(path.string());
    const GoldenFile golden(path);
    const dit::WanModel model = load_memory_model(golden_config(golden, path), golden_weights(golden));
    for (const auto& name : golden_cases(golden)) {
      const DitCase batch = golden_case(golden, name);
      if (batch.x.size() < 2) continue;
      const auto together = run_case(model, batch);
      for (size_t b = 0; b < batch.x.size(); ++b) {
        DitCase single;
        single.x = {batch.x[b]};
        single.t = batch.t.narrow(0, static_cast<int64_t>(b), 1);
        single.context = {batch.context[b]};
        single.seq_len = batch.seq_len;
        const at::Tensor alone = run_case(model, single)[0];
        EXPECT_TRUE(golden.compare("batched " + name + "." + std::to_string(b), alone, together[b]));
      }
    }
  }
}

// The model attends a prompt's rows plus one row standing for its zero
// padding (dit::cross_attention_rows); contexts the caller zero-pads to
// text_len take the reference's path over every row. Both must agree, also
// in a batch whose prompts differ in length.
TEST(DitParity, CompactedPaddingEqualsEveryPaddingRow) {
  for (const auto& path : dit_golden_files()) {
    SCOPED_TRACE(path.string());
    const GoldenFile golden(path);
    const dit::DitConfig config = golden_config(golden, path);
    const dit::WanModel model = load_memory_model(config, golden_weights(golden));
    for (const auto& name : golden_cases(golden)) {
      const DitCase compact = golden_case(golden, name);
      DitCase padded = compact;
      for (at::Tensor& context : padded.context) {
        if (context.size(0) == config.text_len) continue;  // no padding to compact
        const at::Tensor zeros = at::zeros({config.text_len - context.size(0), context.size(1)}, context.options());
        context = at::cat({context, zeros});
      }
      const auto short_rows = run_case(model, compact);
      const auto every_row = run_case(model, padded);
      for (size_t b = 0; b < short_rows.size(); ++b) {
        EXPECT_TRUE(golden.compare("padded " + name + "." + std::to_string(b), every_row[b], short_rows[b]));
      }
      if (compact.x.size() > 1) continue;
      // A batch of this prompt and a shorter one: the shorter one's padding
      // fills rows the longer one holds text in.
      DitCase ragged = compact;
      ragged.x.push_back(compact.x[0]);
      ragged.t = at::cat({compact.t, compact.t});
      const at::Tensor& context = compact.context[0];
      ragged.context.push_back(context.narrow(0, 0, std::max<int64_t>(context.size(0) / 2, 1)));
      DitCase alone = compact;
      alone.context = {ragged.context[1]};
      const auto together = run_case(model, ragged);
      EXPECT_TRUE(golden.compare("ragged " + name + ".0", short_rows[0], together[0]));
      EXPECT_TRUE(golden.compare("ragged " + name + ".1", run_case(model, alone)[0], together[1]));
    }
  }
}

// The reference expands a [1] timestep to [1, seq_len] (trap 10 of Wan2.2);
// the scalar path broadcasts one modulation instead. Both must agree.
TEST(DitParity, OneTimestepPerTokenEqualsOnePerSample) {
  for (const auto& path : dit_golden_files()) {
    SCOPED_TRACE(path.string());
    const GoldenFile golden(path);
    const dit::WanModel model = load_memory_model(golden_config(golden, path), golden_weights(golden));
    for (const auto& name : golden_cases(golden)) {
      DitCase scalar = golden_case(golden, name);
      if (scalar.t.dim() != 1 || scalar.x.size() != 1) continue;
      DitCase per_token = scalar;
      per_token.t = scalar.t.view({1, 1}).expand({1, scalar.seq_len}).contiguous();
      EXPECT_TRUE(golden.compare("per-token " + name, run_case(model, per_token)[0], run_case(model, scalar)[0]));
    }
  }
}

}  // namespace
}  // namespace soragen::test
