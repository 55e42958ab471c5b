// umT5 checkpoint layouts (src/text_encoder/key_maps.cpp): HF, diffusers and Comfy names.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "expect_throw.h"
#include "golden_util.h"
#include "io/dtypes.h"
#include "io/safetensors_writer.h"
#include "safetensors_test_util.h"
#include "soragen/error.h"
#include "test_util.h"
#include "text_encoder/text_encoder.h"
#include "text_encoder_unit_util.h"

namespace soragen::text_encoder {
namespace {

using namespace unit;

TEST(text_encoder_layouts, EveryHfNameMapsToItsOfficialName) {
  const TinyModel m = tiny_model();
  const io::MemorySource hf("hf", renamed(m.weights, to_hf));
  ASSERT_EQ(detect_text_encoder_layout(hf), TextEncoderLayout::hf);
  const io::KeyMap map = text_encoder_key_map(TextEncoderLayout::hf, hf);
  for (const auto& [name, tensor] : m.weights) EXPECT_EQ(map.apply(to_hf(name)).value_or("<dropped>"), name);
  // Decoder and LM head of a full T5 are dropped; the tied copy of the
  // embedding is dropped when shared.weight is there.
  EXPECT_FALSE(map.apply("decoder.block.0.layer.0.SelfAttention.q.weight"));
  EXPECT_FALSE(map.apply("lm_head.weight"));
  EXPECT_FALSE(map.apply("encoder.embed_tokens.weight"));
  EXPECT_STREQ(layout_name(TextEncoderLayout::hf), "hf");
}

TEST(text_encoder_layouts, UnknownLayoutIsAnError) {
  const io::MemorySource other("other.safetensors", {{"model.layers.0.weight", at::zeros({2})}});
  EXPECT_ERROR(detect_text_encoder_layout(other), ModelError, "weights 'other.safetensors': not a umT5 encoder checkpoint");
}

TEST(text_encoder_layouts, HfWithTiedEmbeddingGivesTheOfficialResult) {
  const TinyModel m = tiny_model();
  auto hf = renamed(m.weights, to_hf);
  // diffusers' text_encoder holds the tied embedding under both names.
  hf["encoder.embed_tokens.weight"] = hf.at("shared.weight");
  const at::Tensor expected = official_hidden(m);
  EXPECT_TRUE(at::equal(hidden_of(m, io::MemorySource("hf", hf), TextEncoderLayout::hf), expected));
}

TEST(text_encoder_layouts, HfWithOnlyEmbedTokensGivesTheOfficialResult) {
  const TinyModel m = tiny_model();
  auto hf = renamed(m.weights, to_hf);
  hf["encoder.embed_tokens.weight"] = hf.at("shared.weight");
  hf.erase("shared.weight");
  EXPECT_TRUE(at::equal(hidden_of(m, io::MemorySource("hf", hf), TextEncoderLayout::hf), official_hidden(m)));
}

TEST(text_encoder_layouts, HfWithoutEncoderPrefixGivesTheOfficialResult) {
  const TinyModel m = tiny_model();
  const auto bare = renamed(m.weights, [](const std::string& name) {
    const std::string hf = to_hf(name);
    return hf.rfind("encoder.", 0) == 0 ? hf.substr(8) : hf;
  });
  ASSERT_TRUE(bare.count("block.0.layer.0.SelfAttention.q.weight"));
  ASSERT_TRUE(bare.count("final_layer_norm.weight"));
  EXPECT_TRUE(at::equal(hidden_of(m, io::MemorySource("bare", bare), TextEncoderLayout::hf_bare), official_hidden(m)));
}

// A diffusers text_encoder/ folder: HF names, sharded, opened by directory.
TEST(text_encoder_layouts, DiffusersShardedDirectoryGivesTheOfficialResult) {
  const TinyModel m = tiny_model();
  test::TempDir dir;
  std::map<std::string, at::Tensor> shard1, shard2;
  nlohmann::json weight_map = nlohmann::json::object();
  for (const auto& [name, tensor] : m.weights) {
    const std::string hf = to_hf(name);
    const bool first = name.rfind("blocks.0.", 0) == 0 || name == "token_embedding.weight";
    (first ? shard1 : shard2)[hf] = tensor.to(at::kFloat);
    weight_map[hf] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  shard1["encoder.embed_tokens.weight"] = m.weights.at("token_embedding.weight").to(at::kFloat);
  weight_map["encoder.embed_tokens.weight"] = "model-00001-of-00002.safetensors";
  io::save_safetensors(dir / "model-00001-of-00002.safetensors", shard1);
  io::save_safetensors(dir / "model-00002-of-00002.safetensors", shard2);
  std::ofstream(dir / "model.safetensors.index.json") << nlohmann::json{{"metadata", nlohmann::json::object()},
                                                                       {"weight_map", weight_map}}.dump();
  const std::unique_ptr<TextEncoder> encoder = TextEncoder::open(dir.path(), m.config);
  EXPECT_EQ(encoder->layout(), TextEncoderLayout::hf);
  EXPECT_TRUE(at::equal(encoder->hidden_states(m.ids, m.mask), official_hidden(m)));
}

TEST(text_encoder_layouts, EmptyDirectoryIsAnError) {
  test::TempDir dir;
  EXPECT_ERROR(open_text_encoder_weights(dir.path()), ModelError, "neither model.safetensors.index.json");
}

// Comfy's umt5_xxl_fp8_e4m3fn_scaled.safetensors: HF names, each Linear
// weight as float8_e4m3fn codes with a float32 scale_weight (and a
// scale_input, and a scaled_fp8 marker). The official-layout model built
// from the dequantised values must give exactly the same result.
TEST(text_encoder_layouts, ComfyScaledFp8GivesTheOfficialResultOfItsValues) {
  const TinyModel m = tiny_model();
  // Every finite e4m3fn value; NaN codes (0x7f, 0xff) are never chosen.
  std::vector<float> table(256);
  for (int code = 0; code < 256; ++code) {
    const float v = io::float8_e4m3fn_to_float(static_cast<uint8_t>(code));
    table[code] = std::isnan(v) ? std::numeric_limits<float>::infinity() : v;
  }
  const at::Tensor values = at::tensor(table);

  std::map<std::string, at::Tensor> dequantised = m.weights;
  std::map<std::string, at::Tensor> file;
  std::set<std::string> float8;
  for (const auto& [name, tensor] : m.weights) {
    const std::string hf = to_hf(name);
    const bool linear = name.find(".attn.") != std::string::npos || name.find(".ffn.") != std::string::npos;
    if (!linear) {
      file[hf] = tensor.to(at::kFloat);
      continue;
    }
    // A power-of-two scale keeps code * scale exact in float32.
    const double scale = std::exp2(std::ceil(std::log2(tensor.abs().max().item<double>() / 448.0)));
    const at::Tensor codes = ((tensor / scale).unsqueeze(-1) - values).abs().argmin(-1).to(at::kByte).contiguous();
    dequantised[name] = values.index_select(0, codes.flatten().to(at::kLong)).view(tensor.sizes()) * scale;
    const std::string layer = hf.substr(0, hf.size() - std::string(".weight").size());
    file[hf] = codes;
    float8.insert(hf);
    file[layer + ".scale_weight"] = at::full({}, scale, at::kFloat);
    file[layer + ".scale_input"] = at::ones({}, at::kFloat);
  }
  file["scaled_fp8"] = at::empty({0}, at::kByte);
  float8.insert("scaled_fp8");
  test::TempDir dir;
  test::save_safetensors_with_float8(dir / "umt5_xxl_fp8_e4m3fn_scaled.safetensors", file, float8);

  const std::unique_ptr<io::TensorSource> source = open_text_encoder_weights(dir / "umt5_xxl_fp8_e4m3fn_scaled.safetensors");
  EXPECT_FALSE(source->contains("scaled_fp8"));
  EXPECT_FALSE(source->contains("encoder.block.0.layer.0.SelfAttention.q.scale_weight"));
  EXPECT_EQ(source->info("encoder.block.0.layer.0.SelfAttention.q.weight").dtype, "F32");
  const at::Tensor expected = hidden_of(m, io::MemorySource("dequantised", dequantised), TextEncoderLayout::wan);
  EXPECT_TRUE(at::equal(hidden_of(m, *source, TextEncoderLayout::hf), expected));
  // The values really are fp8: quantisation moved the weights.
  EXPECT_FALSE(at::equal(dequantised.at("blocks.0.attn.q.weight"), m.weights.at("blocks.0.attn.q.weight")));
}

}  // namespace
}  // namespace soragen::text_encoder
