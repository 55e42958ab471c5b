// DiT configs (src/dit/config.cpp): parsing, validation, the cross-check against weights.
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

TEST(DitConfig, ReadsTheShippedConfigs) {
  const DitConfig small = DitConfig::from_file(configs_dir() / "wan2.1-t2v-1.3b.json");
  EXPECT_EQ(small.dim, 1536);
  EXPECT_EQ(small.num_heads, 12);
  EXPECT_EQ(small.head_dim(), 128);
  EXPECT_EQ(small.num_layers, 30);
  EXPECT_EQ(small.ffn_dim, 8960);
  EXPECT_EQ(small.text_len, 512);
  EXPECT_EQ(small.rope_theta, 10000.0);  // absent in the file: default
  EXPECT_EQ(small.rope_max_positions, 1024);
  const DitConfig large = DitConfig::from_file(configs_dir() / "wan2.1-t2v-14b.json");
  EXPECT_EQ(large.dim, 5120);
  EXPECT_EQ(large.num_heads, 40);
  EXPECT_EQ(large.num_layers, 40);
  EXPECT_EQ(large.head_dim(), 128);
}

TEST(DitConfig, RejectsBrokenConfigs) {
  const auto broken = [](const std::string& key, const json& value) {
    json j = tiny_json();
    if (value.is_null()) j.erase(key);
    else j[key] = value;
    return j;
  };
  EXPECT_THROW_WITH(DitConfig::from_json(broken("dim", nullptr), "cfg"), ModelError, "'dim' is missing");
  EXPECT_THROW_WITH(DitConfig::from_json(broken("dim", "24"), "cfg"), ModelError, "'dim' must be an integer");
  EXPECT_THROW_WITH(DitConfig::from_json(broken("dim", 25), "cfg"), ModelError, "not a multiple of num_heads");
  EXPECT_THROW_WITH(DitConfig::from_json(broken("num_heads", 6), "cfg"), ModelError, "head_dim");  // 4 < 6
  json odd = tiny_json();
  odd["dim"] = 30;  // head_dim 15: RoPE needs pairs
  EXPECT_THROW_WITH(DitConfig::from_json(odd, "cfg"), ModelError, "must be even");
  EXPECT_THROW_WITH(DitConfig::from_json(broken("window_size", {8, 8}), "cfg"), ModelError, "window_size");
  EXPECT_THROW_WITH(DitConfig::from_json(broken("patch_size", {1, 2}), "cfg"), ModelError, "patch_size");
  EXPECT_THROW_WITH(DitConfig::from_json(broken("model_type", "flf2v"), "cfg"), ModelError, "(t2v, ti2v and i2v)");
  EXPECT_THROW_WITH(DitConfig::from_json(broken("qk_norm", 1), "cfg"), ModelError, "true or false");
  EXPECT_THROW_WITH(DitConfig::from_json(broken("num_layers", 0), "cfg"), ModelError, "num_layers must be >= 1");
  EXPECT_THROW_WITH(DitConfig::from_json(broken("freq_dim", 15), "cfg"), ModelError, "freq_dim");
  EXPECT_THROW_WITH(DitConfig::from_json(broken("eps", 0), "cfg"), ModelError, "eps");
  EXPECT_THROW_WITH(DitConfig::from_json(json::array(), "cfg"), ModelError, "cfg: expected a JSON object");
  test::TempDir dir;
  std::ofstream(dir / "bad.json") << "{ not json";
  EXPECT_THROW_WITH(DitConfig::from_file(dir / "bad.json"), ModelError, "not valid JSON");
  EXPECT_THROW_WITH(DitConfig::from_file(dir / "absent.json"), ModelError, "cannot open");
}

TEST(DitConfig, TokenCount) {
  const DitConfig c = DitConfig::from_file(configs_dir() / "wan2.1-t2v-1.3b.json");
  EXPECT_EQ(token_count(c, 21, 60, 104), 32760);  // 81 frames of 832x480
  EXPECT_THROW(token_count(c, 21, 61, 104), UsageError);
}

TEST(DitConfig, CrossCheckedAgainstWeights) {
  const auto tensors = zero_checkpoint(tiny_config());
  const io::MemorySource source("tiny.safetensors", tensors);
  const io::KeyMap& identity = dit_key_map(DitLayout::official);
  EXPECT_NO_THROW(check_config_against_weights(tiny_config(), source, identity));
  json j = tiny_json();
  j["num_layers"] = 3;
  EXPECT_THROW_WITH(check_config_against_weights(DitConfig::from_json(j, "c"), source, identity), ModelError,
                    "checkpoint has 2 transformer blocks, config num_layers is 3");
  j = tiny_json();
  j["ffn_dim"] = 48;
  EXPECT_THROW_WITH(check_config_against_weights(DitConfig::from_json(j, "c"), source, identity), ModelError,
                    "'blocks.0.ffn.0.weight' has shape [32,24], config (ffn_dim, dim) expects [48,24]");
  j = tiny_json();
  j["text_dim"] = 16;
  EXPECT_THROW_WITH(check_config_against_weights(DitConfig::from_json(j, "c"), source, identity), ModelError,
                    "text_embedding.0.weight");
  j = tiny_json();
  j["qk_norm"] = false;
  EXPECT_THROW_WITH(check_config_against_weights(DitConfig::from_json(j, "c"), source, identity), ModelError,
                    "qk_norm is false");
  // The same through the loader, with the file named.
  j = tiny_json();
  j["num_layers"] = 3;
  EXPECT_THROW_WITH(load_wan_model(DitConfig::from_json(j, "c"), source, Logger()), ModelError,
                    "weights 'tiny.safetensors'");
}

TEST(DitConfig, ParameterNamesAreTheOfficialKeys) {
  json j = tiny_json();
  j["num_layers"] = 1;
  WanModel model(DitConfig::from_json(j, "c"));
  std::vector<std::string> names;
  for (const auto& item : model->named_parameters()) names.push_back(item.key());
  std::sort(names.begin(), names.end());
  const std::vector<std::string> expected = {
      "blocks.0.cross_attn.k.bias", "blocks.0.cross_attn.k.weight", "blocks.0.cross_attn.norm_k.weight",
      "blocks.0.cross_attn.norm_q.weight", "blocks.0.cross_attn.o.bias", "blocks.0.cross_attn.o.weight",
      "blocks.0.cross_attn.q.bias", "blocks.0.cross_attn.q.weight", "blocks.0.cross_attn.v.bias",
      "blocks.0.cross_attn.v.weight", "blocks.0.ffn.0.bias", "blocks.0.ffn.0.weight", "blocks.0.ffn.2.bias",
      "blocks.0.ffn.2.weight", "blocks.0.modulation", "blocks.0.norm3.bias", "blocks.0.norm3.weight",
      "blocks.0.self_attn.k.bias", "blocks.0.self_attn.k.weight", "blocks.0.self_attn.norm_k.weight",
      "blocks.0.self_attn.norm_q.weight", "blocks.0.self_attn.o.bias", "blocks.0.self_attn.o.weight",
      "blocks.0.self_attn.q.bias", "blocks.0.self_attn.q.weight", "blocks.0.self_attn.v.bias",
      "blocks.0.self_attn.v.weight", "head.head.bias", "head.head.weight", "head.modulation",
      "patch_embedding.bias", "patch_embedding.weight", "text_embedding.0.bias", "text_embedding.0.weight",
      "text_embedding.2.bias", "text_embedding.2.weight", "time_embedding.0.bias", "time_embedding.0.weight",
      "time_embedding.2.bias", "time_embedding.2.weight", "time_projection.1.bias", "time_projection.1.weight"};
  EXPECT_EQ(names, expected);
}

TEST(DitConfig, PrecisionOfStoredWeights) {
  WanModel model(tiny_config(), at::kBFloat16);
  for (const auto& item : model->named_parameters()) {
    const std::string& name = item.key();
    const bool fp32 = name.find("modulation") != std::string::npos || name.find("norm") != std::string::npos ||
                      name.rfind("time_", 0) == 0;
    EXPECT_EQ(item.value().scalar_type(), fp32 ? at::kFloat : at::kBFloat16) << name;
    EXPECT_FALSE(item.value().requires_grad()) << name;
  }
}

}  // namespace
}  // namespace soragen::dit

namespace soragen::dit::unit {
namespace {

// Wan2.2's i2v DiT is the t2v network with y on its input; a Wan2.1 I2V
// checkpoint has the same in_dim but a CLIP branch soragen does not run, so
// loading it under an i2v config is an error, not a wrong video.
TEST(DitConfig, I2vIsTheT2vNetworkAndRefusesAClipBranch) {
  nlohmann::json json = tiny_json();
  json["model_type"] = "i2v";
  json["in_dim"] = 4 + 4 + 4;  // latent, mask, image latent (z_dim 4)
  const DitConfig config = DitConfig::from_json(json, "tiny i2v");
  std::map<std::string, at::Tensor> tensors = zero_checkpoint(config);
  EXPECT_NO_THROW(load_wan_model(config, io::MemorySource("i2v.safetensors", tensors), Logger()));
  tensors["img_emb.proj.1.weight"] = at::zeros({24, 12});
  EXPECT_THROW_WITH(load_wan_model(config, io::MemorySource("i2v.safetensors", tensors), Logger()), ModelError,
                    "tensor 'img_emb.proj.1.weight' belongs to a Wan2.1 image-to-video DiT");
}

}  // namespace
}  // namespace soragen::dit::unit
