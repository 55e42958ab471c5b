// Unit tests of the umT5 encoder: the position buckets, config validation,
// every checkpoint layout's renames (each checked to give exactly the
// official-layout result), the config/weights cross-check, input checks and
// the release of the weights.
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

namespace soragen::text_encoder {
namespace {

// Substring check on a one-line error message.
#define EXPECT_ERROR(statement, exception, fragment) \
  SORAGEN_EXPECT_THROW_MESSAGE(statement, exception, fragment, true)

nlohmann::json xxl_json() {
  return {{"vocab", 256384}, {"dim", 4096},       {"dim_attn", 4096}, {"dim_ffn", 10240},
          {"num_heads", 64}, {"num_layers", 24},  {"num_buckets", 32}, {"max_dist", 128},
          {"eps", 1e-6},     {"shared_pos", false}, {"text_len", 512}};
}

UMT5Config xxl() { return parse_umt5_config(xxl_json(), "test"); }

std::filesystem::path golden_t5() { return test::golden_dir() / "t5_encoder.safetensors"; }

// The golden file's weights (official names) and config.
struct TinyModel {
  UMT5Config config;
  std::map<std::string, at::Tensor> weights;
  at::Tensor ids, mask;
};

TinyModel tiny_model() {
  const test::GoldenFile golden(golden_t5());
  TinyModel m;
  m.config = parse_umt5_config(golden.config(), "golden config");
  for (const auto& name : golden.source().names()) {
    if (name.rfind("input.", 0) == 0 || name.rfind("output.", 0) == 0 || name.rfind("debug.", 0) == 0) continue;
    m.weights[name] = golden.tensor(name).clone();
  }
  m.ids = golden.tensor("input.ids");
  m.mask = golden.tensor("input.mask");
  return m;
}

at::Tensor hidden_of(const TinyModel& m, const io::TensorSource& source, CheckpointLayout expected_layout) {
  const TextEncoder encoder(m.config, source);
  EXPECT_EQ(encoder.layout(), expected_layout);
  return encoder.hidden_states(m.ids, m.mask);
}

at::Tensor official_hidden(const TinyModel& m) {
  return hidden_of(m, io::MemorySource("official", m.weights), CheckpointLayout::wan);
}

// Official name -> HF UMT5EncoderModel name (written independently of the
// library's table, from transformers' modeling_umt5.py module names).
std::string to_hf(const std::string& name) {
  static const std::vector<std::pair<std::string, std::string>> parts = {
      {".attn.q.", ".layer.0.SelfAttention.q."},
      {".attn.k.", ".layer.0.SelfAttention.k."},
      {".attn.v.", ".layer.0.SelfAttention.v."},
      {".attn.o.", ".layer.0.SelfAttention.o."},
      {".pos_embedding.embedding.", ".layer.0.SelfAttention.relative_attention_bias."},
      {".norm1.", ".layer.0.layer_norm."},
      {".ffn.gate.0.", ".layer.1.DenseReluDense.wi_0."},
      {".ffn.fc1.", ".layer.1.DenseReluDense.wi_1."},
      {".ffn.fc2.", ".layer.1.DenseReluDense.wo."},
      {".norm2.", ".layer.1.layer_norm."},
  };
  if (name == "token_embedding.weight") return "shared.weight";
  if (name == "norm.weight") return "encoder.final_layer_norm.weight";
  std::string out = "encoder.block." + name.substr(std::string("blocks.").size());
  for (const auto& [from, to] : parts) {
    const size_t pos = out.find(from);
    if (pos != std::string::npos) return out.replace(pos, from.size(), to);
  }
  ADD_FAILURE() << "no HF name for " << name;
  return out;
}

std::map<std::string, at::Tensor> renamed(const std::map<std::string, at::Tensor>& weights,
                                          const std::function<std::string(const std::string&)>& rename) {
  std::map<std::string, at::Tensor> out;
  for (const auto& [name, tensor] : weights) out[rename(name)] = tensor;
  return out;
}

// ---------------------------------------------------------------- buckets

TEST(text_encoder_bucket, HandComputedValuesForXxl) {
  // rel = key - query; 16 buckets per direction, rel > 0 in the upper half,
  // |rel| < 8 exact, then 8 + trunc(log(|rel|/8) / log(16) * 8), at most 15.
  const std::vector<std::pair<int64_t, int64_t>> cases = {
      {0, 0},    {-1, 1},    {1, 17},    {-7, 7},    {7, 23},    {-8, 8},   {8, 24},    {-11, 8},
      {-12, 9},  {12, 25},   {-20, 10},  {20, 26},   {-100, 15}, {-127, 15}, {-128, 15}, {-511, 15},
      {127, 31}, {128, 31},  {511, 31},  {-40, 12},  {40, 28}};
  const UMT5Config config = xxl();
  for (const auto& [rel, bucket] : cases) {
    EXPECT_EQ(relative_position_bucket(at::tensor({rel}, at::kLong), config).item<int64_t>(), bucket) << "rel " << rel;
  }
}

TEST(text_encoder_bucket, FollowsTheConfig) {
  nlohmann::json json = xxl_json();
  json["num_buckets"] = 64;  // 32 per direction, 16 exact
  json["max_dist"] = 256;
  const UMT5Config config = parse_umt5_config(json, "test");
  // 16 + trunc(log(40/16) / log(16) * 16) = 16 + trunc(5.29) = 21
  EXPECT_EQ(relative_position_bucket(at::tensor({int64_t{-40}}), config).item<int64_t>(), 21);
  EXPECT_EQ(relative_position_bucket(at::tensor({int64_t{15}}), config).item<int64_t>(), 47);
  EXPECT_EQ(relative_position_bucket(at::tensor({int64_t{300}}), config).item<int64_t>(), 63);
}

TEST(text_encoder_bucket, MonotoneInDistanceAndInRange) {
  const UMT5Config config = xxl();
  const at::Tensor dist = at::arange(0, 2000, at::kLong);
  const at::Tensor left = relative_position_bucket(-dist, config);
  const at::Tensor right = relative_position_bucket(dist.slice(0, 1), config);
  EXPECT_TRUE((left.slice(0, 1) >= left.slice(0, 0, -1)).all().item<bool>());
  EXPECT_TRUE((right.slice(0, 1) >= right.slice(0, 0, -1)).all().item<bool>());
  EXPECT_EQ(left.min().item<int64_t>(), 0);
  EXPECT_EQ(left.max().item<int64_t>(), 15);
  EXPECT_EQ(right.min().item<int64_t>(), 17);
  EXPECT_EQ(right.max().item<int64_t>(), 31);
}

// ----------------------------------------------------------------- config

TEST(text_encoder_config, TheXxlFileParses) {
  const UMT5Config c = load_umt5_config(std::filesystem::path(SORAGEN_SOURCE_MODELS_DIR) / "configs/umt5-xxl.json");
  EXPECT_EQ(c.vocab, 256384);
  EXPECT_EQ(c.dim, 4096);
  EXPECT_EQ(c.dim_attn, 4096);
  EXPECT_EQ(c.dim_ffn, 10240);
  EXPECT_EQ(c.num_heads, 64);
  EXPECT_EQ(c.head_dim(), 64);
  EXPECT_EQ(c.num_layers, 24);
  EXPECT_EQ(c.num_buckets, 32);
  EXPECT_EQ(c.max_dist, 128);
  EXPECT_DOUBLE_EQ(c.eps, 1e-6);
  EXPECT_EQ(c.text_len, 512);
  EXPECT_NE(c.origin.find("umt5-xxl.json"), std::string::npos);
}

TEST(text_encoder_config, TheGoldenConfigParsesWithItsExtraKeys) {
  const test::GoldenFile golden(golden_t5());
  const UMT5Config c = parse_umt5_config(golden.config(), "golden");
  EXPECT_EQ(c.num_layers, 3);
  EXPECT_EQ(c.head_dim(), 16);
}

TEST(text_encoder_config, MaxDistanceIsAnAlias) {
  nlohmann::json json = xxl_json();
  json.erase("max_dist");
  json["max_distance"] = 64;
  EXPECT_EQ(parse_umt5_config(json, "test").max_dist, 64);
}

TEST(text_encoder_config, ErrorsNameTheOriginAndTheKey) {
  const auto with = [](const char* key, const nlohmann::json& value) {
    nlohmann::json json = xxl_json();
    json[key] = value;
    return json;
  };
  nlohmann::json missing = xxl_json();
  missing.erase("num_heads");
  EXPECT_ERROR(parse_umt5_config(missing, "config 'x.json'"), ModelError, "config 'x.json': missing 'num_heads'");
  EXPECT_ERROR(parse_umt5_config(with("dim", "4096"), "c"), ModelError, "'dim' must be an integer");
  EXPECT_ERROR(parse_umt5_config(with("dim", 4096.5), "c"), ModelError, "'dim' must be an integer");
  EXPECT_ERROR(parse_umt5_config(with("num_layers", 0), "c"), ModelError, "'num_layers' must be positive");
  EXPECT_ERROR(parse_umt5_config(with("vocab", -5), "c"), ModelError, "'vocab' must be positive");
  EXPECT_ERROR(parse_umt5_config(with("num_heads", 48), "c"), ModelError, "num_heads 48 does not divide dim_attn 4096");
  EXPECT_ERROR(parse_umt5_config(with("shared_pos", true), "c"), ModelError, "'shared_pos' true is not supported");
  EXPECT_ERROR(parse_umt5_config(with("bidirectional", false), "c"), ModelError, "'bidirectional' false");
  EXPECT_ERROR(parse_umt5_config(with("shared_pos", 0), "c"), ModelError, "'shared_pos' must be true or false");
  EXPECT_ERROR(parse_umt5_config(with("num_buckets", 33), "c"), ModelError, "num_buckets must be even");
  EXPECT_ERROR(parse_umt5_config(with("max_dist", 8), "c"), ModelError, "max_dist 8 must exceed");
  EXPECT_ERROR(parse_umt5_config(with("eps", -1.0), "c"), ModelError, "'eps' must be positive");
  EXPECT_ERROR(parse_umt5_config(with("eps", "small"), "c"), ModelError, "'eps' must be a number");
  EXPECT_ERROR(parse_umt5_config(nlohmann::json::array(), "c"), ModelError, "expected a JSON object");
}

TEST(text_encoder_config, FileErrors) {
  test::TempDir dir;
  EXPECT_ERROR(load_umt5_config(dir / "absent.json"), ModelError, "absent.json': cannot open");
  std::ofstream(dir / "bad.json") << "{\"dim\": ";
  EXPECT_ERROR(load_umt5_config(dir / "bad.json"), ModelError, "bad.json': not valid JSON");
}

// ---------------------------------------------------------------- layouts

TEST(text_encoder_layouts, EveryHfNameMapsToItsOfficialName) {
  const TinyModel m = tiny_model();
  const io::MemorySource hf("hf", renamed(m.weights, to_hf));
  ASSERT_EQ(detect_layout(hf), CheckpointLayout::hf);
  const io::KeyMap map = key_map(CheckpointLayout::hf, hf);
  for (const auto& [name, tensor] : m.weights) EXPECT_EQ(map.apply(to_hf(name)).value_or("<dropped>"), name);
  // Decoder and LM head of a full T5 are dropped; the tied copy of the
  // embedding is dropped when shared.weight is there.
  EXPECT_FALSE(map.apply("decoder.block.0.layer.0.SelfAttention.q.weight"));
  EXPECT_FALSE(map.apply("lm_head.weight"));
  EXPECT_FALSE(map.apply("encoder.embed_tokens.weight"));
  EXPECT_EQ(layout_name(CheckpointLayout::hf), "hf");
}

TEST(text_encoder_layouts, UnknownLayoutIsAnError) {
  const io::MemorySource other("other.safetensors", {{"model.layers.0.weight", at::zeros({2})}});
  EXPECT_ERROR(detect_layout(other), ModelError, "weights 'other.safetensors': not a umT5 encoder checkpoint");
}

TEST(text_encoder_layouts, HfWithTiedEmbeddingGivesTheOfficialResult) {
  const TinyModel m = tiny_model();
  auto hf = renamed(m.weights, to_hf);
  // diffusers' text_encoder holds the tied embedding under both names.
  hf["encoder.embed_tokens.weight"] = hf.at("shared.weight");
  const at::Tensor expected = official_hidden(m);
  EXPECT_TRUE(at::equal(hidden_of(m, io::MemorySource("hf", hf), CheckpointLayout::hf), expected));
}

TEST(text_encoder_layouts, HfWithOnlyEmbedTokensGivesTheOfficialResult) {
  const TinyModel m = tiny_model();
  auto hf = renamed(m.weights, to_hf);
  hf["encoder.embed_tokens.weight"] = hf.at("shared.weight");
  hf.erase("shared.weight");
  EXPECT_TRUE(at::equal(hidden_of(m, io::MemorySource("hf", hf), CheckpointLayout::hf), official_hidden(m)));
}

TEST(text_encoder_layouts, HfWithoutEncoderPrefixGivesTheOfficialResult) {
  const TinyModel m = tiny_model();
  const auto bare = renamed(m.weights, [](const std::string& name) {
    const std::string hf = to_hf(name);
    return hf.rfind("encoder.", 0) == 0 ? hf.substr(8) : hf;
  });
  ASSERT_TRUE(bare.count("block.0.layer.0.SelfAttention.q.weight"));
  ASSERT_TRUE(bare.count("final_layer_norm.weight"));
  EXPECT_TRUE(at::equal(hidden_of(m, io::MemorySource("bare", bare), CheckpointLayout::hf_bare), official_hidden(m)));
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
  EXPECT_EQ(encoder->layout(), CheckpointLayout::hf);
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
  const at::Tensor expected = hidden_of(m, io::MemorySource("dequantised", dequantised), CheckpointLayout::wan);
  EXPECT_TRUE(at::equal(hidden_of(m, *source, CheckpointLayout::hf), expected));
  // The values really are fp8: quantisation moved the weights.
  EXPECT_FALSE(at::equal(dequantised.at("blocks.0.attn.q.weight"), m.weights.at("blocks.0.attn.q.weight")));
}

// --------------------------------------------------- config vs weights

TEST(text_encoder_cross_check, LayerCountMismatchIsAnError) {
  const TinyModel m = tiny_model();
  UMT5Config config = m.config;
  config.num_layers = 2;
  config.origin = "config 'tiny.json'";
  EXPECT_ERROR(TextEncoder(config, io::MemorySource("tiny.pth", m.weights)), ModelError,
               "weights 'tiny.pth': has 3 encoder blocks (highest index 2), config 'tiny.json' says num_layers 2");
}

TEST(text_encoder_cross_check, WidthMismatchesAreErrors) {
  const TinyModel m = tiny_model();
  const io::MemorySource weights("tiny.pth", m.weights);
  UMT5Config vocab = m.config;
  vocab.vocab = 256384;
  EXPECT_ERROR(TextEncoder(vocab, weights), ModelError,
               "tensor 'token_embedding.weight' has shape [300,64], golden config implies [256384,64] (vocab, dim)");
  UMT5Config heads = m.config;
  heads.num_heads = 8;
  EXPECT_ERROR(TextEncoder(heads, weights), ModelError, "[32,4], golden config implies [32,8] (num_buckets, num_heads)");
  UMT5Config ffn = m.config;
  ffn.dim_ffn = 256;
  const io::MemorySource hf("hf.safetensors", renamed(m.weights, to_hf));
  EXPECT_ERROR(TextEncoder(ffn, hf), ModelError,
               "tensor 'encoder.block.0.layer.1.DenseReluDense.wi_1.weight' (as 'blocks.0.ffn.fc1.weight') has shape "
               "[128,64]");
}

TEST(text_encoder_cross_check, MissingTensorIsAnError) {
  TinyModel m = tiny_model();
  m.weights.erase("blocks.1.norm2.weight");
  EXPECT_ERROR(TextEncoder(m.config, io::MemorySource("tiny.pth", m.weights)), ModelError, "blocks.1.norm2.weight");
}

// ---------------------------------------------------------------- running

TEST(text_encoder_run, InputsAreChecked) {
  const TinyModel m = tiny_model();
  const TextEncoder encoder(m.config, io::MemorySource("tiny", m.weights));
  at::Tensor ids = m.ids.clone();
  ids[0][0] = m.config.vocab;
  EXPECT_ERROR(encoder.encode(ids, m.mask), ModelError, "token id 300 is outside the text encoder's vocabulary [0, 300)");
  EXPECT_ERROR(encoder.encode(m.ids, m.mask.slice(1, 0, 5)), UsageError, "mask has shape [2,5], ids [2,32]");
  EXPECT_ERROR(encoder.encode(m.ids.to(at::kFloat), m.mask), UsageError, "ids must be an integer tensor");
  EXPECT_ERROR(encoder.encode(m.ids, m.mask * 2), UsageError, "mask values must be 0 or 1");
}

TEST(text_encoder_run, ContextsAreTrimmedAndIndependentOfTheBatch) {
  const TinyModel m = tiny_model();
  const TextEncoder encoder(m.config, io::MemorySource("tiny", m.weights));
  const std::vector<at::Tensor> batched = encoder.encode(m.ids, m.mask);
  ASSERT_EQ(batched.size(), 2u);
  for (int64_t b = 0; b < 2; ++b) {
    const int64_t length = m.mask[b].sum().item<int64_t>();
    EXPECT_EQ(batched[b].sizes(), at::IntArrayRef({length, m.config.dim}));
    // One prompt per call, as the pipeline does: padding keys are masked, so
    // the other prompt and the padding do not change the result.
    const std::vector<at::Tensor> single = encoder.encode(m.ids.slice(0, b, b + 1), m.mask.slice(0, b, b + 1));
    ASSERT_EQ(single.size(), 1u);
    EXPECT_TRUE(at::allclose(single[0], batched[b], 1e-5, 1e-5))
        << "max |diff| " << (single[0] - batched[b]).abs().max().item<double>();
    // Only the real tokens: no padding, so a shorter pad gives the same rows.
    const std::vector<at::Tensor> short_pad =
        encoder.encode(m.ids.slice(0, b, b + 1).slice(1, 0, length), m.mask.slice(0, b, b + 1).slice(1, 0, length));
    EXPECT_TRUE(at::allclose(short_pad[0], batched[b], 1e-5, 1e-5))
        << "max |diff| " << (short_pad[0] - batched[b]).abs().max().item<double>();
  }
}

TEST(text_encoder_run, Bfloat16StaysCloseToFloat32) {
  const TinyModel m = tiny_model();
  const TextEncoder fp32(m.config, io::MemorySource("tiny", m.weights));
  EXPECT_FALSE(fp32.fp32_matmul());
  const at::Tensor reference = fp32.hidden_states(m.ids, m.mask);
  const double scale = reference.abs().max().item<double>();
  at::Tensor previous;
  for (const bool widen : {false, true}) {
    TextEncoderOptions options{c10::kCPU, at::kBFloat16};
    options.fp32_matmul = widen;
    const TextEncoder bf16(m.config, io::MemorySource("tiny", m.weights), options);
    EXPECT_EQ(bf16.fp32_matmul(), widen);
    for (const auto& param : bf16.module()->parameters()) EXPECT_EQ(param.scalar_type(), at::kBFloat16);
    const at::Tensor half = bf16.hidden_states(m.ids, m.mask);
    EXPECT_EQ(half.scalar_type(), at::kBFloat16);
    // bf16 is not comparable at the parity tolerance (golden README). The
    // reference itself, cast to bf16, moves this file's output by 0.313 at
    // most (of values up to 4.02) and 0.030 on average; a broken path (wrong
    // norm dtype, lost mask) moves it by the size of the values.
    const at::Tensor diff = (half.to(at::kFloat) - reference).abs();
    EXPECT_LT(diff.max().item<double>(), 0.15 * scale) << "widen " << widen;
    EXPECT_LT(diff.mean().item<double>(), 0.02 * scale) << "widen " << widen;
    EXPECT_GT(diff.max().item<double>(), 0.0);
    // Native and widened products differ only in summation order.
    if (previous.defined()) {
      EXPECT_LT((half.to(at::kFloat) - previous).abs().mean().item<double>(), 0.01 * scale);
    }
    previous = half.to(at::kFloat);
  }
}

// The encoder is the only owner of its weights: destroying it frees them
// even while its outputs are still in use.
TEST(text_encoder_run, DestroyingTheEncoderReleasesItsWeights) {
  const TinyModel m = tiny_model();
  auto encoder = std::make_unique<TextEncoder>(m.config, io::MemorySource("tiny", m.weights));
  std::vector<c10::weak_intrusive_ptr<c10::StorageImpl>> storages;
  for (const auto& param : encoder->module()->parameters()) {
    storages.emplace_back(param.storage().getWeakStorageImpl());
  }
  ASSERT_EQ(storages.size(), static_cast<size_t>(2 + 10 * m.config.num_layers));
  const std::vector<at::Tensor> contexts = encoder->encode(m.ids, m.mask);
  for (const auto& storage : storages) EXPECT_FALSE(storage.expired());
  encoder.reset();
  for (const auto& storage : storages) EXPECT_TRUE(storage.expired());
  EXPECT_TRUE(contexts[1].isfinite().all().item<bool>());
}

}  // namespace
}  // namespace soragen::text_encoder
