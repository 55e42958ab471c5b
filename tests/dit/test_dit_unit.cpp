// DiT pieces without weights: RoPE split and table, config parsing and
// validation, checkpoint key maps, attention chunking and masking, FLOP count.
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

#include "dit/attention.h"
#include "dit/config.h"
#include "dit/flops.h"
#include "dit/key_maps.h"
#include "dit/rope.h"
#include "core/torch_compat.h"
#include "dit/wan_model.h"
#include "io/tensor_source.h"
#include "soragen/error.h"
#include "dit_test_util.h"
#include "expect_throw.h"
#include "test_util.h"

namespace soragen::dit {
namespace {

using nlohmann::json;

#define EXPECT_THROW_WITH(statement, exception, fragment) \
  SORAGEN_EXPECT_THROW_MESSAGE(statement, exception, fragment, false)

std::filesystem::path configs_dir() { return std::filesystem::path(SORAGEN_SOURCE_MODELS_DIR) / "configs"; }

json tiny_json() {
  return {{"model_type", "t2v"}, {"patch_size", {1, 2, 2}}, {"text_len", 8},    {"in_dim", 4},
          {"dim", 24},           {"ffn_dim", 32},           {"freq_dim", 16},   {"text_dim", 12},
          {"out_dim", 4},        {"num_heads", 2},          {"num_layers", 2},  {"window_size", {-1, -1}},
          {"qk_norm", true},     {"cross_attn_norm", true}, {"eps", 1e-6}};
}

DitConfig tiny_config() { return DitConfig::from_json(tiny_json(), "tiny"); }

// ---------------------------------------------------------------- RoPE

TEST(DitRope, SplitOfHeadDim128Is22_21_21) {
  const RopeSplit split = rope_split(128);
  EXPECT_EQ(split.frame, 22);
  EXPECT_EQ(split.height, 21);
  EXPECT_EQ(split.width, 21);
  const RopeSplit small = rope_split(16);  // the golden file's head_dim
  EXPECT_EQ(small.frame, 4);
  EXPECT_EQ(small.height, 2);
  EXPECT_EQ(small.width, 2);
  const RopeSplit minimal = rope_split(6);
  EXPECT_EQ(minimal.frame + minimal.height + minimal.width, 3);
  EXPECT_EQ(minimal.height, 1);
}

TEST(DitRope, TableHasPerPartFrequencies) {
  const RopeTable table(128, 1024, 10000.0);
  ASSERT_EQ(table.cos().sizes(), (std::vector<int64_t>{1024, 64}));
  EXPECT_EQ(table.cos().scalar_type(), at::kDouble);
  // Frame part: 22 pairs of a 44-wide rotation; height and width: 21 of 42.
  EXPECT_DOUBLE_EQ(table.cos()[7][3].item<double>(), std::cos(7.0 / std::pow(10000.0, 6.0 / 44.0)));
  EXPECT_DOUBLE_EQ(table.sin()[5][22 + 3].item<double>(), std::sin(5.0 / std::pow(10000.0, 6.0 / 42.0)));
  EXPECT_DOUBLE_EQ(table.sin()[9][43 + 20].item<double>(), std::sin(9.0 / std::pow(10000.0, 40.0 / 42.0)));
  EXPECT_DOUBLE_EQ(table.cos()[0][10].item<double>(), 1.0);
}

TEST(DitRope, RotationsFollowTheTokenGrid) {
  const RopeTable table(16, 64, 10000.0);  // pairs 4 / 2 / 2
  const std::vector<Grid> grids{{2, 3, 4}, {1, 2, 2}};
  const auto rot = table.rotations(grids, 24, at::kCPU);
  ASSERT_EQ(rot[0].sizes(), (std::vector<int64_t>{2, 24, 1, 8}));
  // Token (f=1, h=2, w=3) is index 1*12 + 2*4 + 3 = 23.
  const at::Tensor row = rot[0][0][23][0];
  for (int64_t j = 0; j < 4; ++j) EXPECT_DOUBLE_EQ(row[j].item<double>(), table.cos()[1][j].item<double>());
  for (int64_t j = 4; j < 6; ++j) EXPECT_DOUBLE_EQ(row[j].item<double>(), table.cos()[2][j].item<double>());
  for (int64_t j = 6; j < 8; ++j) EXPECT_DOUBLE_EQ(row[j].item<double>(), table.cos()[3][j].item<double>());
  // Sample 1 has 4 tokens; the padding after them is not rotated.
  EXPECT_TRUE(at::equal(rot[0][1].narrow(0, 4, 20), at::ones({20, 1, 8}, at::kDouble)));
  EXPECT_TRUE(at::equal(rot[1][1].narrow(0, 4, 20), at::zeros({20, 1, 8}, at::kDouble)));
  EXPECT_THROW(table.rotations({{2, 3, 4}}, 10, at::kCPU), UsageError);
  EXPECT_THROW(table.rotations({{1, 65, 1}}, 100, at::kCPU), UsageError);
}

TEST(DitRope, RotatesInterleavedPairs) {
  const RopeTable table(6, 8, 10000.0);  // one pair per axis
  const at::Tensor x = at::arange(1, 7, at::kFloat).view({1, 1, 1, 6});
  const auto rot = table.rotations({{1, 1, 1}}, 1, at::kCPU);
  // Position 0 everywhere: the identity.
  EXPECT_TRUE(at::equal(apply_rope(x, rot), x));
  const at::Tensor x2 = at::arange(1, 13, at::kFloat).view({1, 2, 1, 6});
  const auto rot2 = table.rotations({{2, 1, 1}}, 2, at::kCPU);
  const at::Tensor y = apply_rope(x2, rot2);
  // Token 1 is at frame 1: pair (x[0], x[1]) = (7, 8) turns by angle 1 (first frequency).
  EXPECT_NEAR(y[0][1][0][0].item<float>(), 7 * std::cos(1.0) - 8 * std::sin(1.0), 1e-5);
  EXPECT_NEAR(y[0][1][0][1].item<float>(), 7 * std::sin(1.0) + 8 * std::cos(1.0), 1e-5);
  // Pairs 1 and 2 (row, column) are at position 0.
  EXPECT_TRUE(at::equal(y[0][1][0].narrow(0, 2, 4), x2[0][1][0].narrow(0, 2, 4)));
}

// ---------------------------------------------------------------- config

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
  EXPECT_THROW_WITH(DitConfig::from_json(broken("model_type", "i2v"), "cfg"), ModelError, "only t2v");
  EXPECT_THROW_WITH(DitConfig::from_json(broken("qk_norm", 1), "cfg"), ModelError, "true or false");
  EXPECT_THROW_WITH(DitConfig::from_json(broken("num_layers", 0), "cfg"), ModelError, "num_layers must be >= 1");
  EXPECT_THROW_WITH(DitConfig::from_json(broken("freq_dim", 15), "cfg"), ModelError, "freq_dim");
  EXPECT_THROW_WITH(DitConfig::from_json(broken("eps", 0), "cfg"), ModelError, "eps");
  EXPECT_THROW_WITH(DitConfig::from_json(json::array(), "cfg"), ModelError, "cfg: expected a JSON object");
  test::TempDir dir;
  std::ofstream(dir / "bad.json") << "{ not json";
  EXPECT_THROW_WITH(DitConfig::from_file(dir / "bad.json"), ModelError, "invalid JSON");
  EXPECT_THROW_WITH(DitConfig::from_file(dir / "absent.json"), ModelError, "cannot open");
}

TEST(DitConfig, TokenCount) {
  const DitConfig c = DitConfig::from_file(configs_dir() / "wan2.1-t2v-1.3b.json");
  EXPECT_EQ(token_count(c, 21, 60, 104), 32760);  // 81 frames of 832x480
  EXPECT_THROW(token_count(c, 21, 61, 104), UsageError);
}

// Shapes of a tiny model's tensors stand in for a checkpoint.
std::map<std::string, at::Tensor> zero_checkpoint(const DitConfig& config) {
  WanModel model(config);
  std::map<std::string, at::Tensor> tensors;
  for (const auto& item : model->named_parameters()) tensors[item.key()] = at::zeros(item.value().sizes());
  return tensors;
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

// ---------------------------------------------------------------- key maps

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

TEST(DitKeyMaps, RefusesScaledFp8) {
  auto tensors = zero_checkpoint(tiny_config());
  tensors["blocks.0.ffn.0.scale_weight"] = at::ones({1});
  const io::MemorySource source("scaled.safetensors", tensors);
  EXPECT_THROW_WITH(load_wan_model(tiny_config(), source, Logger()), ModelError, "scaled-fp8");
}

// ---------------------------------------------------------------- attention

// softmax(q k^T / sqrt(d)) v per sample and head, float64, keys cut to the length.
at::Tensor naive_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           const std::vector<int64_t>& lens) {
  std::vector<at::Tensor> out;
  for (int64_t b = 0; b < q.size(0); ++b) {
    const int64_t len = lens.empty() ? k.size(1) : lens[b];
    const at::Tensor qb = q[b].to(at::kDouble).transpose(0, 1);  // [n, Lq, d]
    const at::Tensor kb = k[b].narrow(0, 0, len).to(at::kDouble).transpose(0, 1);
    const at::Tensor vb = v[b].narrow(0, 0, len).to(at::kDouble).transpose(0, 1);
    const at::Tensor p = (at::matmul(qb, kb.transpose(1, 2)) / std::sqrt(double(q.size(3)))).softmax(-1);
    out.push_back(at::matmul(p, vb).transpose(0, 1));
  }
  return at::stack(out);
}

struct AttentionInputs {
  at::Tensor q, k, v;
};

AttentionInputs random_attention(int64_t batch, int64_t lq, int64_t lk, int64_t heads, int64_t d) {
  at::manual_seed(7);
  return {at::randn({batch, lq, heads, d}), at::randn({batch, lk, heads, d}), at::randn({batch, lk, heads, d})};
}

TEST(DitAttention, MathPathIsExact) {
  const auto in = random_attention(2, 37, 29, 3, 8);
  AttentionOptions math;
  math.backend = AttentionBackend::math;
  for (const std::vector<int64_t>& lens : {std::vector<int64_t>{}, std::vector<int64_t>{29, 11}}) {
    const at::Tensor out = attention(in.q, in.k, in.v, lens, math);
    ASSERT_EQ(out.sizes(), in.q.sizes());
    EXPECT_EQ(out.scalar_type(), at::kFloat);
    EXPECT_LT((out.to(at::kDouble) - naive_attention(in.q, in.k, in.v, lens)).abs().max().item<double>(), 1e-5);
  }
}

TEST(DitAttention, ChunkedQueriesEqualUnchunked) {
  const auto in = random_attention(2, 300, 300, 4, 16);
  const std::vector<int64_t> lens{300, 123};
  AttentionOptions whole;
  whole.backend = AttentionBackend::math;
  whole.max_score_bytes = int64_t{1} << 40;
  AttentionOptions chunked = whole;
  chunked.max_score_bytes = 2 * 2 * 4 * 300 * 4 * 7;  // 7 query rows per chunk, a ragged last chunk
  const at::Tensor a = attention(in.q, in.k, in.v, lens, whole);
  const at::Tensor b = attention(in.q, in.k, in.v, lens, chunked);
  EXPECT_LT((a - b).abs().max().item<float>(), 1e-6f);
  AttentionOptions one_row = whole;
  one_row.max_score_bytes = 1;  // never below one row
  EXPECT_LT((a - attention(in.q, in.k, in.v, lens, one_row)).abs().max().item<float>(), 1e-6f);
}

TEST(DitAttention, MaskedKeysDoNotMatter) {
  auto in = random_attention(2, 10, 12, 2, 8);
  AttentionOptions math;
  math.backend = AttentionBackend::math;
  const at::Tensor before = attention(in.q, in.k, in.v, {12, 5}, math);
  in.k[1].narrow(0, 5, 7).fill_(100.f);
  in.v[1].narrow(0, 5, 7).fill_(-100.f);
  const at::Tensor after = attention(in.q, in.k, in.v, {12, 5}, math);
  EXPECT_TRUE(at::equal(before, after));
  EXPECT_THROW(attention(in.q, in.k, in.v, {12, 0}, math), UsageError);
  EXPECT_THROW(attention(in.q, in.k, in.v, {12}, math), UsageError);
}

TEST(DitAttention, FusedBackendMatchesMath) {
  const auto in = random_attention(2, 33, 21, 2, 16);
  AttentionOptions math;
  math.backend = AttentionBackend::math;
  AttentionOptions fused;
  fused.backend = AttentionBackend::sdpa;
  if (!SORAGEN_TORCH_HAS_SDPA) {
    EXPECT_FALSE(attention_uses_sdpa(AttentionBackend::automatic));
    EXPECT_THROW_WITH(attention(in.q, in.k, in.v, {}, fused), UsageError, "libtorch >= 2.0");
    return;
  }
  for (const std::vector<int64_t>& lens : {std::vector<int64_t>{}, std::vector<int64_t>{21, 9}}) {
    const at::Tensor diff = attention(in.q, in.k, in.v, lens, fused) - attention(in.q, in.k, in.v, lens, math);
    EXPECT_LT(diff.abs().max().item<float>(), 1e-5f);
  }
}

// ---------------------------------------------------------------- FLOPs

TEST(DitFlops, HandComputedTinyCase) {
  // dim 12, 2 heads, ffn 8, freq 4, text 3 wide x 2 rows, 2 -> 2 channels,
  // 1x1x1 patches, one layer, 3 tokens.
  json j = {{"patch_size", {1, 1, 1}}, {"text_len", 2}, {"in_dim", 2}, {"dim", 12}, {"ffn_dim", 8},
            {"freq_dim", 4}, {"text_dim", 3}, {"out_dim", 2}, {"num_heads", 2}, {"num_layers", 1},
            {"window_size", {-1, -1}}, {"qk_norm", true}, {"cross_attn_norm", true}, {"eps", 1e-6}};
  const DitConfig c = DitConfig::from_json(j, "flops");
  const DitFlops f = dit_forward_flops(c, 3);
  EXPECT_EQ(f.patch_embedding, 2 * 3 * 2 * 12);                            // 144
  EXPECT_EQ(f.time_embedding, 2 * (4 * 12 + 12 * 12 + 12 * 72));          // 2112
  EXPECT_EQ(f.text_embedding, 2 * 2 * (3 * 12 + 12 * 12));                // 720
  EXPECT_EQ(f.self_attention_projections, 4 * 2 * 3 * 12 * 12);           // 3456
  EXPECT_EQ(f.self_attention_scores, 2 * 2 * 3 * 3 * 12);                 // 432
  EXPECT_EQ(f.cross_attention_projections, 2 * 2 * 3 * 144 + 2 * 2 * 2 * 144);  // 2880
  EXPECT_EQ(f.cross_attention_scores, 2 * 2 * 3 * 2 * 12);                // 288
  EXPECT_EQ(f.ffn, 2 * 2 * 3 * 12 * 8);                                   // 1152
  EXPECT_EQ(f.head, 2 * 3 * 12 * 2);                                      // 144
  EXPECT_EQ(f.total(), 144 + 2112 + 720 + 3456 + 432 + 2880 + 288 + 1152 + 144);
  EXPECT_EQ(dit_forward_flops(c, 3, 2).total(), 2 * f.total());
}

TEST(DitFlops, FullSizeOrderOfMagnitude) {
  // Wan2.1 1.3B at 81x480x832 (32760 tokens): about 2.83e14 FLOPs per call,
  // 70% of it the quadratic self-attention (2*2*L^2*dim*layers).
  const DitConfig c = DitConfig::from_file(configs_dir() / "wan2.1-t2v-1.3b.json");
  const DitFlops f = dit_forward_flops(c, 32760);
  EXPECT_EQ(f.self_attention_scores, int64_t{4} * 32760 * 32760 * 1536 * 30);
  EXPECT_EQ(f.ffn, int64_t{4} * 32760 * 1536 * 8960 * 30);
  EXPECT_GT(f.total(), int64_t{282} * 1000 * 1000 * 1000 * 1000);
  EXPECT_LT(f.total(), int64_t{284} * 1000 * 1000 * 1000 * 1000);
}

}  // namespace
}  // namespace soragen::dit
