// LoRA merging (src/dit/lora.h): every key format in the wild gives the
// merged weight W + scale * (up @ down) * alpha / rank, computed here
// independently per tensor; full differences add; scale 0 changes nothing;
// a LoRA for another model is an error naming its tensor.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "dit/lora.h"
#include "dit_unit_util.h"
#include "io/safetensors_writer.h"
#include "io/tensor_source.h"
#include "soragen/error.h"

namespace soragen::dit::unit {
namespace {

using Tensors = std::map<std::string, at::Tensor>;

// A tiny DiT with random weights, so every parameter tells if it moved.
WanModel random_model() {
  WanModel model(tiny_config());
  torch::NoGradGuard no_grad;
  at::manual_seed(7);
  for (auto& item : model->named_parameters()) item.value().copy_(at::randn(item.value().sizes()));
  return model;
}

Tensors parameters_of(const WanModel& model) {
  Tensors out;
  for (const auto& item : model->named_parameters()) out[item.key()] = item.value().clone();
  return out;
}

// One low-rank pair for an official parameter; what the file calls it is up to the format.
struct Pair {
  std::string parameter;  // "blocks.0.self_attn.q.weight"
  at::Tensor down, up;    // [rank, in...], [out, rank...]
  double alpha = 0;       // 0: none in the file
};

Pair make_pair(const WanModel& model, const std::string& parameter, int64_t rank, double alpha, int seed) {
  const at::Tensor weight = parameters_of(model).at(parameter);
  at::manual_seed(seed);
  std::vector<int64_t> down_shape{rank};
  for (int64_t d = 1; d < weight.dim(); ++d) down_shape.push_back(weight.size(d));
  std::vector<int64_t> up_shape{weight.size(0), rank};
  for (int64_t d = 2; d < weight.dim(); ++d) up_shape.push_back(1);  // a conv LoRA's up is 1x1x1
  return {parameter, at::randn(down_shape), at::randn(up_shape), alpha};
}

// What the merge must give, spelled out from the definition.
at::Tensor expected_weight(const at::Tensor& weight, const Pair& pair, double scale) {
  const int64_t rank = pair.down.size(0);
  const double ratio = pair.alpha > 0 ? pair.alpha / static_cast<double>(rank) : 1.0;
  const at::Tensor product = at::matmul(pair.up.reshape({pair.up.size(0), rank}), pair.down.reshape({rank, -1}));
  return weight + scale * ratio * product.reshape(weight.sizes());
}

struct Format {
  std::string name;
  // Official parameter -> the file's module name; and the names of the parts.
  std::function<std::string(const std::string& module)> module;
  std::string down, up;
};

// The official module names used below and their diffusers spellings.
const std::map<std::string, std::string> kDiffusersModule{
    {"blocks.0.self_attn.q", "blocks.0.attn1.to_q"},
    {"blocks.1.cross_attn.o", "blocks.1.attn2.to_out.0"},
    {"blocks.0.ffn.0", "blocks.0.ffn.net.0.proj"},
    {"text_embedding.0", "condition_embedder.text_embedder.linear_1"},
    {"head.head", "proj_out"},
    {"patch_embedding", "patch_embedding"},
};

std::string flat(std::string name) {
  for (char& c : name) c = c == '.' ? '_' : c;
  return name;
}

const std::vector<Format>& formats() {
  static const std::vector<Format> all{
      {"diffusers PEFT", [](const std::string& m) { return "transformer." + kDiffusersModule.at(m); }, ".lora_A.weight",
       ".lora_B.weight"},
      {"PEFT adapter, official names", [](const std::string& m) { return "diffusion_model." + m; },
       ".lora_A.default.weight", ".lora_B.default.weight"},
      {"PEFT, no prefix", [](const std::string& m) { return m; }, ".lora_A.weight", ".lora_B.weight"},
      {"kohya, official names", [](const std::string& m) { return "lora_unet_" + flat(m); }, ".lora_down.weight",
       ".lora_up.weight"},
      {"kohya, diffusers names", [](const std::string& m) { return "lora_unet_" + flat(kDiffusersModule.at(m)); },
       ".lora_down.weight", ".lora_up.weight"},
      {"lightx2v / Comfy", [](const std::string& m) { return "diffusion_model." + m; }, ".lora_down.weight",
       ".lora_up.weight"},
  };
  return all;
}

std::string module_of(const std::string& parameter) { return parameter.substr(0, parameter.rfind('.')); }

TEST(Lora, EveryKeyFormatMergesToTheLowRankFormula) {
  for (const Format& format : formats()) {
    SCOPED_TRACE(format.name);
    WanModel model = random_model();
    const Tensors before = parameters_of(model);
    std::vector<Pair> pairs;
    int seed = 100;
    for (const auto& [parameter, alpha] : std::vector<std::pair<std::string, double>>{
             {"blocks.0.self_attn.q.weight", 8.0},
             {"blocks.1.cross_attn.o.weight", 0.0},
             {"blocks.0.ffn.0.weight", 2.0},
             {"text_embedding.0.weight", 4.0},
             {"head.head.weight", 0.0},
             {"patch_embedding.weight", 3.0}}) {
      pairs.push_back(make_pair(model, parameter, 4, alpha, seed++));
    }
    Tensors file;
    for (const Pair& pair : pairs) {
      const std::string name = format.module(module_of(pair.parameter));
      file[name + format.down] = pair.down;
      file[name + format.up] = pair.up;
      if (pair.alpha > 0) file[name + ".alpha"] = at::tensor(pair.alpha);
    }
    const double scale = 0.75;
    const io::MemorySource lora("lora.safetensors", file);
    const LoraMergeReport report = merge_lora(*model, lora, scale, Logger());
    EXPECT_EQ(report.merged, pairs.size());
    EXPECT_TRUE(report.unmatched.empty()) << report.unmatched.front();

    const Tensors after = parameters_of(model);
    for (const auto& [name, value] : after) {
      const auto pair = std::find_if(pairs.begin(), pairs.end(), [&](const Pair& p) { return p.parameter == name; });
      if (pair == pairs.end()) {
        EXPECT_TRUE(at::equal(value, before.at(name))) << name << " changed";
      } else {
        const at::Tensor expected = expected_weight(before.at(name), *pair, scale);
        EXPECT_TRUE(at::allclose(value, expected, 1e-5, 1e-5))
            << name << ": max error " << (value - expected).abs().max().item<double>();
        EXPECT_FALSE(at::equal(value, before.at(name))) << name << " did not change";
      }
    }
  }
}

TEST(Lora, FullDifferencesAddToWeightsBiasesAndPlainParameters) {
  WanModel model = random_model();
  const Tensors before = parameters_of(model);
  at::manual_seed(3);
  const at::Tensor norm = at::randn(before.at("blocks.0.norm3.weight").sizes());
  const at::Tensor bias = at::randn(before.at("blocks.1.self_attn.k.bias").sizes());
  const at::Tensor modulation = at::randn(before.at("blocks.0.modulation").sizes());
  const Tensors file{{"diffusion_model.blocks.0.norm3.diff", norm},
                     {"diffusion_model.blocks.1.self_attn.k.diff_b", bias},
                     {"diffusion_model.blocks.0.modulation.diff", modulation}};
  const LoraMergeReport report = merge_lora(*model, io::MemorySource("diff.safetensors", file), 2.0, Logger());
  EXPECT_EQ(report.merged, 3u);
  const Tensors after = parameters_of(model);
  EXPECT_TRUE(at::allclose(after.at("blocks.0.norm3.weight"), before.at("blocks.0.norm3.weight") + 2.0 * norm));
  EXPECT_TRUE(at::allclose(after.at("blocks.1.self_attn.k.bias"), before.at("blocks.1.self_attn.k.bias") + 2.0 * bias));
  EXPECT_TRUE(at::allclose(after.at("blocks.0.modulation"), before.at("blocks.0.modulation") + 2.0 * modulation));
  EXPECT_TRUE(at::equal(after.at("blocks.1.self_attn.k.weight"), before.at("blocks.1.self_attn.k.weight")));
}

TEST(Lora, ScaleZeroChangesNothing) {
  WanModel model = random_model();
  const Tensors before = parameters_of(model);
  const Pair pair = make_pair(model, "blocks.0.self_attn.v.weight", 2, 1.0, 5);
  const Tensors file{{"diffusion_model.blocks.0.self_attn.v.lora_A.weight", pair.down},
                     {"diffusion_model.blocks.0.self_attn.v.lora_B.weight", pair.up},
                     {"diffusion_model.blocks.0.norm3.diff", at::ones(before.at("blocks.0.norm3.weight").sizes())}};
  merge_lora(*model, io::MemorySource("zero.safetensors", file), 0.0, Logger());
  for (const auto& [name, value] : parameters_of(model)) EXPECT_TRUE(at::equal(value, before.at(name))) << name;
}

TEST(Lora, MergesFromASafetensorsFileInBf16) {
  WanModel model = random_model();
  const Tensors before = parameters_of(model);
  Pair pair = make_pair(model, "blocks.1.self_attn.q.weight", 3, 6.0, 11);
  pair.down = pair.down.to(at::kBFloat16).to(at::kFloat);  // the values the file will hold
  pair.up = pair.up.to(at::kBFloat16).to(at::kFloat);
  const auto path = std::filesystem::temp_directory_path() / "soragen_test_lora_bf16.safetensors";
  io::save_safetensors(path, {{"lora_unet_blocks_1_self_attn_q.lora_down.weight", pair.down.to(at::kBFloat16)},
                              {"lora_unet_blocks_1_self_attn_q.lora_up.weight", pair.up.to(at::kBFloat16)},
                              {"lora_unet_blocks_1_self_attn_q.alpha", at::tensor(6.0).to(at::kBFloat16)}});
  merge_lora(*model, *io::open_weights(path), 1.0, Logger());
  std::filesystem::remove(path);
  const at::Tensor expected = expected_weight(before.at(pair.parameter), pair, 1.0);
  EXPECT_TRUE(at::allclose(parameters_of(model).at(pair.parameter), expected, 1e-5, 1e-5));
}

TEST(Lora, ShapesOfAnotherModelAreAnErrorNamingTheTensor) {
  WanModel model = random_model();
  const Tensors file{{"diffusion_model.blocks.0.self_attn.q.lora_A.weight", at::randn({4, 5120})},
                     {"diffusion_model.blocks.0.self_attn.q.lora_B.weight", at::randn({5120, 4})}};
  EXPECT_THROW_WITH(merge_lora(*model, io::MemorySource("big.safetensors", file), 1.0, Logger()), ModelError,
                    "diffusion_model.blocks.0.self_attn.q.lora_B.weight");
  const Tensors diff{{"diffusion_model.blocks.0.norm3.diff", at::randn({7})}};
  EXPECT_THROW_WITH(merge_lora(*model, io::MemorySource("diff.safetensors", diff), 1.0, Logger()), ModelError,
                    "'diffusion_model.blocks.0.norm3.diff' [7] does not fit");
  const Tensors lonely{{"diffusion_model.blocks.0.self_attn.q.lora_A.weight", at::randn({4, 24})}};
  EXPECT_THROW_WITH(merge_lora(*model, io::MemorySource("half.safetensors", lonely), 1.0, Logger()), ModelError,
                    "has no up (lora_B) matrix");
}

TEST(Lora, KeysThatMatchNothingAreCountedAndWarnedAbout) {
  WanModel model = random_model();
  const Pair pair = make_pair(model, "blocks.0.cross_attn.k.weight", 2, 0.0, 9);
  const Tensors file{{"diffusion_model.blocks.0.cross_attn.k.lora_A.weight", pair.down},
                     {"diffusion_model.blocks.0.cross_attn.k.lora_B.weight", pair.up},
                     {"diffusion_model.blocks.9.self_attn.q.lora_A.weight", at::randn({2, 24})},
                     {"diffusion_model.blocks.9.self_attn.q.lora_B.weight", at::randn({24, 2})},
                     {"lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight", at::randn({2, 8})},
                     {"some_unrelated_tensor", at::randn({3})}};
  std::vector<std::string> warnings;
  const Logger log([&](LogLevel level, const std::string& message) {
    if (level == LogLevel::warning) warnings.push_back(message);
  });
  const LoraMergeReport report = merge_lora(*model, io::MemorySource("mixed.safetensors", file), 1.0, log);
  EXPECT_EQ(report.merged, 1u);
  EXPECT_EQ(report.unmatched.size(), 4u);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("4 of 6 tensors match no DiT parameter"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("mixed.safetensors"), std::string::npos) << warnings[0];
}

TEST(Lora, SpecsReadScaleAndExpertFromTheRight) {
  const LoraSpec plain = parse_lora_spec("a.safetensors");
  EXPECT_EQ(plain.path, "a.safetensors");
  EXPECT_EQ(plain.scale, 1.0);
  EXPECT_EQ(plain.expert, LoraExpert::both);
  const LoraSpec scaled = parse_lora_spec("dir:with:colons/a.safetensors:0.6");
  EXPECT_EQ(scaled.path, "dir:with:colons/a.safetensors");
  EXPECT_DOUBLE_EQ(scaled.scale, 0.6);
  const LoraSpec low = parse_lora_spec("b.safetensors:-1.5:low");
  EXPECT_DOUBLE_EQ(low.scale, -1.5);
  EXPECT_EQ(low.expert, LoraExpert::low);
  EXPECT_EQ(parse_lora_spec("c.safetensors:1:high", true).expert, LoraExpert::high);
  EXPECT_THROW_WITH(parse_lora_spec("c.safetensors:1:high", false), UsageError, "this model has one DiT");
  EXPECT_THROW_WITH(parse_lora_spec("c.safetensors:high"), UsageError, "comes after a scale");
  EXPECT_THROW_WITH(parse_lora_spec(":0.5"), UsageError, "must name a LoRA file");
  EXPECT_EQ(lora_spec_error("ok.safetensors:2"), "");
}

}  // namespace
}  // namespace soragen::dit::unit
