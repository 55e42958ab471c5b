// DiT checkpoint layouts (src/dit/key_maps.cpp): diffusers and Comfy names, detection.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/torch_compat.h"
#include "dit/attention.h"
#include "dit/config.h"
#include "dit/flops.h"
#include "dit/key_maps.h"
#include "dit/rope.h"
#include "dit/wan_model.h"
#include "dit_test_util.h"
#include "dit_unit_util.h"
#include "expect_throw.h"
#include "io/tensor_source.h"
#include "soragen/error.h"
#include "test_util.h"

namespace soragen::dit {
namespace {

using nlohmann::json;
using namespace unit;

TEST(DitKeyMaps, DiffusersNamesMapToOfficial) {
  const io::KeyMap& map = dit_key_map(DitLayout::diffusers);
  // Names as WanTransformer3DModel's state_dict() spells them.
  const std::map<std::string, std::string> spot = {
      {"condition_embedder.time_embedder.linear_1.weight", "time_embedding.0.weight"},
      {"condition_embedder.time_embedder.linear_2.bias", "time_embedding.2.bias"},
      {"condition_embedder.text_embedder.linear_1.weight", "text_embedding.0.weight"},
      {"condition_embedder.text_embedder.linear_2.weight", "text_embedding.2.weight"},
      {"condition_embedder.time_proj.weight", "time_projection.1.weight"},
      {"patch_embedding.weight", "patch_embedding.weight"},
      {"proj_out.weight", "head.head.weight"},
      {"scale_shift_table", "head.modulation"},
      {"blocks.7.scale_shift_table", "blocks.7.modulation"},
      {"blocks.7.attn1.to_q.weight", "blocks.7.self_attn.q.weight"},
      {"blocks.7.attn1.to_out.0.bias", "blocks.7.self_attn.o.bias"},
      {"blocks.7.attn1.norm_k.weight", "blocks.7.self_attn.norm_k.weight"},
      {"blocks.12.attn2.to_v.weight", "blocks.12.cross_attn.v.weight"},
      {"blocks.12.attn2.norm_q.weight", "blocks.12.cross_attn.norm_q.weight"},
      {"blocks.29.norm2.weight", "blocks.29.norm3.weight"},
      {"blocks.29.norm2.bias", "blocks.29.norm3.bias"},
      {"blocks.29.ffn.net.0.proj.weight", "blocks.29.ffn.0.weight"},
      {"blocks.29.ffn.net.2.bias", "blocks.29.ffn.2.bias"},
  };
  for (const auto& [from, to] : spot) EXPECT_EQ(map.apply(from).value_or("<dropped>"), to) << from;

  // Every official key of a model survives the round trip official ->
  // diffusers (their script) -> official (our table), and the diffusers
  // names are distinct.
  std::set<std::string> diffusers_names;
  for (const auto& [name, tensor] : zero_checkpoint(tiny_config())) {
    const std::string converted = test::official_to_diffusers(name);
    EXPECT_TRUE(diffusers_names.insert(converted).second) << converted;
    EXPECT_EQ(map.apply(converted).value_or("<dropped>"), name) << converted;
  }
  EXPECT_TRUE(diffusers_names.count("blocks.1.norm2.weight"));
  EXPECT_FALSE(diffusers_names.count("blocks.1.norm3.weight"));
}

TEST(DitKeyMaps, ComfyStripsItsPrefix) {
  const io::KeyMap& map = dit_key_map(DitLayout::comfy);
  EXPECT_EQ(map.apply("model.diffusion_model.blocks.3.ffn.2.weight").value(), "blocks.3.ffn.2.weight");
  EXPECT_EQ(map.apply("model.diffusion_model.head.modulation").value(), "head.modulation");
  EXPECT_EQ(dit_key_map(DitLayout::official).apply("blocks.0.norm3.weight").value(), "blocks.0.norm3.weight");
}

TEST(DitKeyMaps, DetectsTheLayout) {
  const auto source = [](std::vector<std::string> names) {
    std::map<std::string, at::Tensor> tensors;
    for (const auto& name : names) tensors[name] = at::zeros({1});
    return io::MemorySource("x", tensors);
  };
  EXPECT_EQ(detect_dit_layout(source({"blocks.0.self_attn.q.weight", "head.modulation"})), DitLayout::official);
  EXPECT_EQ(detect_dit_layout(source({"blocks.0.attn1.to_q.weight", "proj_out.weight"})), DitLayout::diffusers);
  EXPECT_EQ(detect_dit_layout(source({"scale_shift_table"})), DitLayout::diffusers);
  EXPECT_EQ(detect_dit_layout(source({"model.diffusion_model.blocks.0.self_attn.q.weight"})), DitLayout::comfy);
  EXPECT_STREQ(layout_name(DitLayout::diffusers), "diffusers");
}

// Comfy's scaled fp8 (wan2.1_t2v_14B_fp8_scaled.safetensors): a weight
// beside its scale_weight, one value or one per output row, and a marker;
// the model holds weight * scale, and the scales are not parameters.
TEST(DitKeyMaps, DequantizesScaledFp8) {
  auto tensors = zero_checkpoint(tiny_config());
  at::manual_seed(3);
  const at::Tensor ffn = at::randn(tensors.at("blocks.0.ffn.0.weight").sizes());
  const at::Tensor q = at::randn(tensors.at("blocks.1.self_attn.q.weight").sizes());
  const at::Tensor row_scales = at::rand({q.size(0)}) + 0.5;
  tensors["blocks.0.ffn.0.weight"] = ffn;
  tensors["blocks.0.ffn.0.scale_weight"] = at::full({1}, 0.25);
  tensors["blocks.0.ffn.0.scale_input"] = at::ones({1});
  tensors["blocks.1.self_attn.q.weight"] = q;
  tensors["blocks.1.self_attn.q.scale_weight"] = row_scales;
  tensors["scaled_fp8"] = at::empty({0}, at::kByte);
  const io::MemorySource source("scaled.safetensors", tensors);
  DitLoadOptions strict;
  strict.strict_weights = true;  // the scales and the marker are not unexpected tensors
  const WanModel model = load_wan_model(tiny_config(), source, Logger(), strict);
  const auto params = model->named_parameters();
  EXPECT_TRUE(at::allclose(params["blocks.0.ffn.0.weight"], ffn * 0.25));
  EXPECT_TRUE(at::allclose(params["blocks.1.self_attn.q.weight"], q * row_scales.view({-1, 1})));
  // A scale that fits neither form names both tensors.
  tensors["blocks.1.self_attn.q.scale_weight"] = at::ones({3});
  const io::MemorySource bad("scaled.safetensors", tensors);
  EXPECT_THROW_WITH(load_wan_model(tiny_config(), bad, Logger()), ModelError,
                    "tensor 'blocks.1.self_attn.q.scale_weight' has shape [3], which does not scale "
                    "'blocks.1.self_attn.q.weight'");
}

}  // namespace
}  // namespace soragen::dit
