#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>

#include "io/state_dict.h"
#include "io_test_util.h"
#include "soragen/error.h"

namespace soragen::io {
namespace {

// Keys: proj.{weight,bias}, blocks.{0,1}.{weight,bias}, scale, steps.
struct NetImpl : torch::nn::Module {
  NetImpl() {
    proj = register_module("proj", torch::nn::Linear(3, 2));
    blocks = register_module("blocks", torch::nn::Sequential(torch::nn::Linear(2, 2), torch::nn::Linear(2, 4)));
    scale = register_buffer("scale", at::ones({2}));
    steps = register_buffer("steps", at::zeros({1}, at::kLong));
  }
  torch::nn::Linear proj{nullptr};
  torch::nn::Sequential blocks{nullptr};
  at::Tensor scale, steps;
};
TORCH_MODULE(Net);

std::map<std::string, at::Tensor> checkpoint(at::ScalarType dtype = at::kFloat) {
  std::map<std::string, at::Tensor> sd;
  const std::vector<std::pair<std::string, std::vector<int64_t>>> shapes = {
      {"proj.weight", {2, 3}},     {"proj.bias", {2}},       {"blocks.0.weight", {2, 2}},
      {"blocks.0.bias", {2}},      {"blocks.1.weight", {4, 2}}, {"blocks.1.bias", {4}},
      {"scale", {2}}};
  double start = 0;
  for (const auto& [name, shape] : shapes) {
    const at::Tensor t =
        at::arange(start, start + static_cast<double>(c10::multiply_integers(shape)), at::kDouble);
    sd[name] = (t.reshape(shape) * 0.25).to(dtype);
    start += 100;
  }
  sd["steps"] = at::tensor({int64_t{12}});
  return sd;
}

struct Captured {
  std::vector<std::string> warnings;
  Logger logger() {
    return Logger([this](LogLevel level, const std::string& m) {
      if (level == LogLevel::warning) warnings.push_back(m);
    }, LogLevel::debug);
  }
};

TEST(StateDict, LoadsEveryParameterAndBuffer) {
  Net net;
  Captured log;
  const auto sd = checkpoint();
  const LoadReport report = load_state_dict(*net, MemorySource("net.safetensors", sd), log.logger());
  EXPECT_EQ(report.loaded, 8u);
  EXPECT_TRUE(report.unexpected.empty());
  EXPECT_TRUE(log.warnings.empty());
  for (const auto& item : net->named_parameters()) {
    EXPECT_TRUE(at::equal(item.value(), sd.at(item.key()))) << item.key();
    EXPECT_TRUE(item.value().requires_grad()) << item.key();
  }
  EXPECT_TRUE(at::equal(net->scale, sd.at("scale")));
  EXPECT_EQ(net->steps.item<int64_t>(), 12);
}

TEST(StateDict, AppliesRenamesAndDroppedPrefixes) {
  std::map<std::string, at::Tensor> renamed;
  for (auto& [name, t] : checkpoint()) {
    std::string key = name;
    if (key.rfind("blocks.", 0) == 0) key = "stack." + key.substr(7);
    renamed["model.diffusion_model." + key] = t;
  }
  renamed["first_stage_model.decoder.w"] = at::zeros({1});
  KeyMap map;
  map.dropped_prefixes = {"first_stage_model."};
  map.renames = {{KeyRename::Kind::prefix, "model.diffusion_model.", ""},
                 {KeyRename::Kind::substring, "stack.", "blocks."}};
  EXPECT_EQ(map.apply("model.diffusion_model.stack.1.bias"), "blocks.1.bias");
  EXPECT_EQ(map.apply("first_stage_model.x"), std::nullopt);
  EXPECT_EQ(map.apply("xstack.stack.y"), "xblocks.blocks.y");

  Net net;
  Captured log;
  LoadOptions options;
  options.key_map = &map;
  const LoadReport report = load_state_dict(*net, MemorySource("c.safetensors", renamed), log.logger(), options);
  EXPECT_EQ(report.loaded, 8u);
  EXPECT_EQ(report.dropped, 1u);
  EXPECT_TRUE(log.warnings.empty());
  EXPECT_TRUE(at::equal(net->blocks[1]->named_parameters()["bias"], checkpoint().at("blocks.1.bias")));
}

TEST(StateDict, ConvertsDtypes) {
  Net net;
  Captured log;
  load_state_dict(*net, MemorySource("bf16", checkpoint(at::kBFloat16)), log.logger());
  EXPECT_EQ(net->proj->weight.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(net->proj->weight, checkpoint(at::kBFloat16).at("proj.weight").to(at::kFloat)));

  LoadOptions half;
  half.dtype = at::kHalf;
  load_state_dict(*net, MemorySource("f32", checkpoint()), log.logger(), half);
  EXPECT_EQ(net->proj->weight.scalar_type(), at::kHalf);
  EXPECT_EQ(net->named_parameters()["blocks.0.weight"].scalar_type(), at::kHalf);
  EXPECT_EQ(net->named_buffers()["scale"].scalar_type(), at::kHalf);
  EXPECT_EQ(net->named_buffers()["steps"].scalar_type(), at::kLong);  // integers keep their type
  EXPECT_TRUE(at::equal(net->proj->bias, checkpoint().at("proj.bias").to(at::kHalf)));
}

TEST(StateDict, ReportsMissingAndMisshapedTogether) {
  auto sd = checkpoint();
  sd.erase("blocks.1.bias");
  sd.erase("proj.bias");
  sd["blocks.0.weight"] = at::zeros({3, 2});
  Net net;
  const at::Tensor before = net->proj->weight.clone();
  EXPECT_THROW_WITH(load_state_dict(*net, MemorySource("dit.safetensors", sd), Logger()), ModelError,
                    "weights 'dit.safetensors': 2 of 8 tensors missing (proj.bias, blocks.1.bias); 1 shape "
                    "mismatch(es): tensor 'blocks.0.weight' has shape [3,2], expected [2,2]");
  EXPECT_TRUE(at::equal(net->proj->weight, before));  // nothing copied on failure
}

TEST(StateDict, MissingListIsShortened) {
  Net net;
  EXPECT_THROW_WITH(load_state_dict(*net, MemorySource("empty", {}), Logger()), ModelError,
                    "8 of 8 tensors missing (proj.weight, proj.bias, blocks.0.weight, blocks.0.bias, "
                    "blocks.1.weight, ...)");
}

TEST(StateDict, WarnsAboutUnexpectedTensors) {
  auto sd = checkpoint();
  sd["extra.a"] = at::zeros({1});
  sd["extra.b"] = at::zeros({1});
  Net net;
  Captured log;
  const LoadReport report = load_state_dict(*net, MemorySource("m", sd), log.logger());
  EXPECT_EQ(report.unexpected, (std::vector<std::string>{"extra.a", "extra.b"}));
  ASSERT_EQ(log.warnings.size(), 1u);
  EXPECT_NE(log.warnings[0].find("2 unexpected tensor(s) ignored (extra.a, extra.b)"), std::string::npos)
      << log.warnings[0];
}

TEST(StateDict, RefusesRenamesThatCollide) {
  auto sd = checkpoint();
  sd["old.scale"] = at::ones({2});
  KeyMap map;
  map.renames = {{KeyRename::Kind::prefix, "old.", ""}};
  LoadOptions options;
  options.key_map = &map;
  Net net;
  EXPECT_THROW_WITH(load_state_dict(*net, MemorySource("m", sd), Logger(), options), ModelError,
                    "both map to 'scale'");
}

}  // namespace
}  // namespace soragen::io
