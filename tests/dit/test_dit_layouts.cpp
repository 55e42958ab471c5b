// Every checkpoint layout and weight dtype loads into the same model: the
// golden weights, renamed or re-encoded in memory (or written as sharded
// safetensors), must give outputs identical to the official fp32 load.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dit/key_maps.h"
#include "dit/wan_model.h"
#include "dit_test_util.h"
#include "golden_util.h"
#include "io/dtypes.h"
#include "io/safetensors_writer.h"
#include "io/tensor_source.h"
#include "safetensors_test_util.h"
#include "soragen/error.h"
#include "test_util.h"

namespace soragen::test {
namespace {

// The big matrices: what a reduced-precision checkpoint stores narrow.
bool is_matrix(const std::string& name) {
  return name.find("modulation") == std::string::npos && name.find("norm") == std::string::npos &&
         name.rfind("time_", 0) != 0 && name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0;
}

class DitLayouts : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto files = golden_files("dit");
    ASSERT_FALSE(files.empty());
    path_ = files.front();
    golden_ = std::make_unique<GoldenFile>(path_);
    config_ = dit::DitConfig::from_json(golden_->config(), path_.string());
    weights_ = golden_weights(*golden_);
    for (const auto& name : golden_cases(*golden_)) cases_.push_back(golden_case(*golden_, name));
  }

  std::vector<std::vector<at::Tensor>> run_all(const dit::WanModel& model) const {
    std::vector<std::vector<at::Tensor>> out;
    for (const auto& c : cases_) out.push_back(run_case(model, c));
    return out;
  }

  static void expect_identical(const std::vector<std::vector<at::Tensor>>& a,
                               const std::vector<std::vector<at::Tensor>>& b) {
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      ASSERT_EQ(a[i].size(), b[i].size());
      for (size_t j = 0; j < a[i].size(); ++j) {
        EXPECT_TRUE(at::equal(a[i][j], b[i][j])) << "case " << i << " sample " << j << ": max |diff| "
                                                 << (a[i][j] - b[i][j]).abs().max().item<double>();
      }
    }
  }

  std::vector<std::vector<at::Tensor>> official_outputs() const {
    return run_all(load_memory_model(config_, weights_));
  }

  std::filesystem::path path_;
  std::unique_ptr<GoldenFile> golden_;
  dit::DitConfig config_;
  std::map<std::string, at::Tensor> weights_;
  std::vector<DitCase> cases_;
};

TEST_F(DitLayouts, DiffusersNamesGiveIdenticalOutputs) {
  std::map<std::string, at::Tensor> renamed;
  for (const auto& [name, tensor] : weights_) renamed[official_to_diffusers(name)] = tensor;
  ASSERT_TRUE(renamed.count("blocks.0.attn2.to_out.0.weight"));
  ASSERT_TRUE(renamed.count("blocks.0.norm2.weight"));  // official norm3
  const io::MemorySource source("diffusers", renamed);
  EXPECT_EQ(dit::detect_dit_layout(source), dit::DitLayout::diffusers);
  expect_identical(run_all(dit::load_wan_model(config_, source, Logger())), official_outputs());
}

TEST_F(DitLayouts, ComfyPrefixGivesIdenticalOutputs) {
  std::map<std::string, at::Tensor> renamed;
  for (const auto& [name, tensor] : weights_) renamed["model.diffusion_model." + name] = tensor;
  const io::MemorySource source("comfy", renamed);
  EXPECT_EQ(dit::detect_dit_layout(source), dit::DitLayout::comfy);
  expect_identical(run_all(dit::load_wan_model(config_, source, Logger())), official_outputs());
}

TEST_F(DitLayouts, ShardedSafetensorsGiveIdenticalOutputs) {
  TempDir dir;
  std::map<std::string, at::Tensor> shards[2];
  nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
  for (const auto& [name, tensor] : weights_) {
    const int shard = name.rfind("blocks.1.", 0) == 0 || name.rfind("head.", 0) == 0 ? 1 : 0;
    shards[shard][name] = tensor;
    index["weight_map"][name] = "diffusion_pytorch_model-0000" + std::to_string(shard + 1) + "-of-00002.safetensors";
  }
  io::save_safetensors(dir / "diffusion_pytorch_model-00001-of-00002.safetensors", shards[0]);
  io::save_safetensors(dir / "diffusion_pytorch_model-00002-of-00002.safetensors", shards[1]);
  std::ofstream(dir / "diffusion_pytorch_model.safetensors.index.json") << index.dump();
  EXPECT_EQ(dit::find_dit_weights(dir.path()), dir / "diffusion_pytorch_model.safetensors.index.json");
  EXPECT_THROW(dit::find_dit_weights(dir / "absent"), ModelError);
  const auto source = io::open_weights(dit::find_dit_weights(dir.path()));
  expect_identical(run_all(dit::load_wan_model(config_, *source, Logger())), official_outputs());
}

// bf16/fp16 checkpoints: stored narrow, upcast per layer at run time. The
// result must equal an fp32 model holding the same (rounded) values.
TEST_F(DitLayouts, HalfPrecisionWeightsUpcastExactly) {
  for (const at::ScalarType narrow : {at::kBFloat16, at::kHalf}) {
    SCOPED_TRACE(c10::toString(narrow));
    std::map<std::string, at::Tensor> narrow_weights;
    std::map<std::string, at::Tensor> rounded;
    for (const auto& [name, tensor] : weights_) {
      narrow_weights[name] = tensor.to(narrow);
      rounded[name] = narrow_weights[name].to(at::kFloat);
    }
    dit::DitLoadOptions keep_narrow;
    keep_narrow.weight_dtype = narrow;
    const dit::WanModel model = load_memory_model(config_, narrow_weights, keep_narrow);
    EXPECT_EQ(model->named_parameters()["blocks.0.ffn.0.weight"].scalar_type(), narrow);
    EXPECT_EQ(model->named_parameters()["blocks.0.modulation"].scalar_type(), at::kFloat);
    EXPECT_EQ(model->named_parameters()["time_projection.1.weight"].scalar_type(), at::kFloat);
    expect_identical(run_all(model), run_all(load_memory_model(config_, rounded)));
  }
}

// float8 e4m3 matrices in a safetensors file (as in fp8 Comfy files): the io
// layer decodes them (libtorch < 2.1) or keeps float8; either way the model
// must equal one built from the decoded values.
TEST_F(DitLayouts, Float8WeightsUpcastExactly) {
  // Every finite e4m3 value; each weight becomes its nearest code.
  std::vector<float> values(256);
  for (int code = 0; code < 256; ++code) values[code] = io::float8_e4m3fn_to_float(static_cast<uint8_t>(code));
  at::Tensor table = at::tensor(values);
  table = at::where(table.isnan(), at::full_like(table, 1e9f), table);
  std::map<std::string, at::Tensor> file;
  std::set<std::string> float8;
  std::map<std::string, at::Tensor> decoded;
  for (const auto& [name, tensor] : weights_) {
    if (!is_matrix(name)) {
      file[name] = tensor;
      decoded[name] = tensor;
      continue;
    }
    const at::Tensor codes = (tensor.unsqueeze(-1) - table).abs().argmin(-1).to(at::kByte);
    file[name] = codes;
    float8.insert(name);
    decoded[name] = table.index_select(0, codes.flatten().to(at::kLong)).view(tensor.sizes());
  }
  TempDir dir;
  save_safetensors_with_float8(dir / "fp8.safetensors", file, float8);
  const auto source = io::open_weights(dir / "fp8.safetensors");
  dit::DitLoadOptions bf16;
  bf16.weight_dtype = at::kBFloat16;  // e4m3 values are exact in bf16
  const dit::WanModel model = dit::load_wan_model(config_, *source, Logger(), bf16);
  EXPECT_EQ(model->named_parameters()["blocks.0.self_attn.q.weight"].scalar_type(), at::kBFloat16);
  expect_identical(run_all(model), run_all(load_memory_model(config_, decoded, bf16)));
}

// bf16 compute (the reference's GPU setting) is not comparable to the golden
// fp32 numbers at its tolerance (README), but must stay close to them.
TEST_F(DitLayouts, Bfloat16ComputeStaysClose) {
  dit::DitLoadOptions bf16;
  bf16.weight_dtype = at::kBFloat16;
  dit::WanModel model = load_memory_model(config_, weights_, bf16);
  model->run_options().compute_dtype = at::kBFloat16;
  const auto fast = run_all(model);
  const auto exact = official_outputs();
  for (size_t i = 0; i < fast.size(); ++i) {
    for (size_t j = 0; j < fast[i].size(); ++j) {
      EXPECT_EQ(fast[i][j].scalar_type(), at::kFloat);
      const double scale = exact[i][j].abs().max().item<double>();
      const double diff = (fast[i][j] - exact[i][j]).abs().max().item<double>();
      std::cout << "  bf16 case " << i << " sample " << j << ": max |diff| " << diff << " (max |value| " << scale
                << ")\n";
      EXPECT_LT(diff, 0.05 * scale);
    }
  }
}

}  // namespace
}  // namespace soragen::test
