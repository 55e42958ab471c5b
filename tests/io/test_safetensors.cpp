#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <limits>

#include "io/dtypes.h"
#include "io/safetensors.h"
#include "io/tensor_source.h"
#include "io_test_util.h"
#include "soragen/error.h"

namespace soragen::io {
namespace {

using nlohmann::json;
using testing::entry;
using testing::raw_bytes;
using testing::safetensors_bytes;
using testing::ScratchDir;
using testing::write_file;

std::string tensor_bytes(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
}

// Pads the header to 8 bytes like the reference writer, so data starts aligned.
std::string padded(json header) {
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

TEST(Safetensors, RoundTripsEveryDtype) {
  ScratchDir dir;
  const at::Tensor base = at::arange(-3, 3, at::kDouble).reshape({2, 3});
  const std::vector<std::pair<std::string, at::ScalarType>> dtypes = {
      {"F64", at::kDouble}, {"F32", at::kFloat}, {"F16", at::kHalf}, {"BF16", at::kBFloat16},
      {"I64", at::kLong},   {"I32", at::kInt},   {"I16", at::kShort}, {"I8", at::kChar},
      {"U8", at::kByte},    {"BOOL", at::kBool}};
  json header = json::object();
  std::string data;
  std::map<std::string, at::Tensor> expected;
  for (const auto& [name, type] : dtypes) {
    const at::Tensor t = (type == at::kByte ? base + 3 : base).to(type);
    const std::string bytes = tensor_bytes(t);
    header["t_" + name] = entry(name, {2, 3}, data.size(), data.size() + bytes.size());
    data += bytes;
    expected["t_" + name] = t;
  }
  header["scalar"] = entry("F32", {}, data.size(), data.size() + 4);
  data += raw_bytes<float>({2.5f});
  header["empty"] = entry("F32", {0, 4}, data.size(), data.size());
  write_file(dir / "all.safetensors", safetensors_bytes(padded(header), data));

  auto source = open_weights(dir / "all.safetensors");
  EXPECT_EQ(source->format(), "safetensors");
  EXPECT_EQ(source->size(), dtypes.size() + 2);
  for (const auto& [name, type] : dtypes) {
    const at::Tensor got = source->load("t_" + name);
    EXPECT_EQ(got.scalar_type(), type) << name;
    EXPECT_TRUE(at::equal(got, expected["t_" + name])) << name;
    EXPECT_EQ(source->info("t_" + name).dtype, name);
    EXPECT_EQ(source->info("t_" + name).shape, (std::vector<int64_t>{2, 3}));
  }
  EXPECT_EQ(source->load("scalar").dim(), 0);
  EXPECT_EQ(source->load("scalar").item<float>(), 2.5f);
  EXPECT_EQ(source->load("empty").sizes(), (std::vector<int64_t>{0, 4}));
}

TEST(Safetensors, UnalignedTensorIsCopiedWithTheRightValues) {
  ScratchDir dir;
  json header;
  header["byte"] = entry("U8", {1}, 0, 1);
  header["floats"] = entry("F32", {3}, 1, 13);
  write_file(dir / "u.safetensors",
             safetensors_bytes(padded(header), std::string(1, '\x07') + raw_bytes<float>({1.f, -2.f, 0.25f})));
  auto source = open_weights(dir / "u.safetensors");
  EXPECT_TRUE(at::equal(source->load("floats"), at::tensor({1.f, -2.f, 0.25f})));
  EXPECT_EQ(source->load("byte").item<uint8_t>(), 7);
}

TEST(Safetensors, TensorOutlivesItsSource) {
  ScratchDir dir;
  json header;
  header["w"] = entry("F32", {2}, 0, 8);
  write_file(dir / "w.safetensors", safetensors_bytes(padded(header), raw_bytes<float>({3.f, 4.f})));
  at::Tensor t = open_weights(dir / "w.safetensors")->load("w");
  t.mul_(2);  // copy-on-write pages: allowed, and the file stays as it was
  EXPECT_TRUE(at::equal(t, at::tensor({6.f, 8.f})));
  EXPECT_TRUE(at::equal(open_weights(dir / "w.safetensors")->load("w"), at::tensor({3.f, 4.f})));
}

TEST(Safetensors, ExposesMetadataAndSortedNames) {
  auto source = open_weights(testing::data_dir() / "io" / "tiny.safetensors");
  EXPECT_EQ(source->names(), (std::vector<std::string>{"blocks.0.bias", "blocks.0.weight", "head.weight"}));
  ASSERT_EQ(source->metadata().count("config"), 1u);
  EXPECT_EQ(json::parse(source->metadata().at("config"))["dim"], 3);
  EXPECT_TRUE(at::equal(source->load("blocks.0.bias"), at::tensor({0.5, -1.0}).to(at::kHalf)));
  EXPECT_EQ(source->load("head.weight").item<int64_t>(), 42);
  EXPECT_THROW_WITH(source->info("nope"), ModelError, "has no tensor 'nope'");
  EXPECT_THROW_WITH(source->load("nope"), ModelError, "has no tensor 'nope'");
}

TEST(Float8, DecodesKnownValuesExactly) {
  EXPECT_EQ(float8_e4m3fn_to_float(0x38), 1.0f);
  EXPECT_EQ(float8_e4m3fn_to_float(0x7e), 448.0f);  // largest finite
  EXPECT_EQ(float8_e4m3fn_to_float(0x78), 256.0f);  // all-ones exponent is finite in "fn"
  EXPECT_EQ(float8_e4m3fn_to_float(0x08), std::ldexp(1.0f, -6));  // smallest normal
  EXPECT_EQ(float8_e4m3fn_to_float(0x01), std::ldexp(1.0f, -9));  // smallest subnormal
  EXPECT_EQ(float8_e4m3fn_to_float(0x07), 7 * std::ldexp(1.0f, -9));
  EXPECT_EQ(float8_e4m3fn_to_float(0xb8), -1.0f);
  EXPECT_TRUE(std::signbit(float8_e4m3fn_to_float(0x80)));
  EXPECT_TRUE(std::isnan(float8_e4m3fn_to_float(0x7f)));
  EXPECT_TRUE(std::isnan(float8_e4m3fn_to_float(0xff)));

  EXPECT_EQ(float8_e5m2_to_float(0x3c), 1.0f);
  EXPECT_EQ(float8_e5m2_to_float(0x7b), 57344.0f);
  EXPECT_EQ(float8_e5m2_to_float(0x04), std::ldexp(1.0f, -14));
  EXPECT_EQ(float8_e5m2_to_float(0x01), std::ldexp(1.0f, -16));
  EXPECT_EQ(float8_e5m2_to_float(0x7c), std::numeric_limits<float>::infinity());
  EXPECT_EQ(float8_e5m2_to_float(0xfc), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(float8_e5m2_to_float(0x7d)));
  EXPECT_TRUE(std::isnan(float8_e5m2_to_float(0xff)));

  int e4m3_nan = 0, e5m2_nan = 0, e5m2_inf = 0;
  for (int i = 0; i < 256; ++i) {
    e4m3_nan += std::isnan(float8_e4m3fn_to_float(static_cast<uint8_t>(i)));
    e5m2_nan += std::isnan(float8_e5m2_to_float(static_cast<uint8_t>(i)));
    e5m2_inf += std::isinf(float8_e5m2_to_float(static_cast<uint8_t>(i)));
  }
  EXPECT_EQ(e4m3_nan, 2);
  EXPECT_EQ(e5m2_nan, 6);
  EXPECT_EQ(e5m2_inf, 2);
}

TEST(Float8, LoadsFromSafetensors) {
  ScratchDir dir;
  json header;
  header["a"] = entry("F8_E4M3", {2, 2}, 0, 4);
  header["b"] = entry("F8_E5M2", {3}, 4, 7);
  write_file(dir / "f8.safetensors",
             safetensors_bytes(padded(header), std::string("\x38\xb8\x01\x7e\x3c\x7c\x7d", 7)));
  auto source = open_weights(dir / "f8.safetensors");
  EXPECT_EQ(source->info("a").dtype, "F8_E4M3");
  const at::Tensor a = source->load("a").to(at::kFloat);
  const at::Tensor b = source->load("b").to(at::kFloat);
  EXPECT_TRUE(at::equal(a, at::tensor({1.f, -1.f, std::ldexp(1.f, -9), 448.f}).reshape({2, 2})));
  EXPECT_EQ(b[0].item<float>(), 1.f);
  EXPECT_TRUE(std::isinf(b[1].item<float>()));
  EXPECT_TRUE(std::isnan(b[2].item<float>()));
}

class BrokenSafetensors : public ::testing::Test {
 protected:
  void expect_error(const std::string& bytes, const std::string& fragment) {
    write_file(dir_ / "bad.safetensors", bytes);
    EXPECT_THROW_WITH(open_weights(dir_ / "bad.safetensors"), ModelError, fragment);
  }
  static std::string file_with(const json& header, size_t data_size) {
    return safetensors_bytes(padded(header), std::string(data_size, '\0'));
  }
  ScratchDir dir_;
};

TEST_F(BrokenSafetensors, Truncated) {
  json header;
  header["w"] = entry("F32", {4}, 0, 16);
  const std::string whole = file_with(header, 16);
  expect_error(whole.substr(0, whole.size() - 4), "tensor 'w' has data offsets [0,16) outside the data area of 12 bytes");
  expect_error(whole.substr(0, 20), "runs past the end of the file");
  expect_error(whole.substr(0, 5), "too short");
}

TEST_F(BrokenSafetensors, OffsetsAndSizes) {
  json header;
  header["a"] = entry("F32", {2}, 0, 8);
  header["b"] = entry("F32", {2}, 4, 12);
  expect_error(file_with(header, 12), "overlapping tensor 'a'");

  header = json::object();
  header["blocks.3.self_attn.q.weight"] = entry("F32", {4}, 10, 26);
  expect_error(file_with(header, 16),
               "tensor 'blocks.3.self_attn.q.weight' has data offsets [10,26) outside the data area of 16 bytes");

  header = json::object();
  header["w"] = entry("F32", {3}, 0, 8);
  expect_error(file_with(header, 16), "tensor 'w' has 8 bytes, expected 12 for F32 [3]");

  header = json::object();
  header["w"] = entry("F32", {1}, 8, 4);
  expect_error(file_with(header, 16), "end before they begin");

  header = json::object();
  header["w"] = {{"dtype", "F32"}, {"shape", {-1}}, {"data_offsets", {0, 4}}};
  expect_error(file_with(header, 4), "negative dimension");

  header = json::object();
  header["w"] = {{"dtype", "F32"}, {"shape", {1u << 31, 1u << 31, 1u << 31}}, {"data_offsets", {0, 4}}};
  expect_error(file_with(header, 4), "overflows");

  header = json::object();
  header["w"] = {{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {0, -4}}};
  expect_error(file_with(header, 4), "not two non-negative integers");
}

TEST_F(BrokenSafetensors, Header) {
  expect_error(testing::le64(uint64_t{1} << 40) + "{}", "header length 1099511627776 exceeds the limit");
  expect_error(safetensors_bytes("{\"w\": {\"dtype\": ", ""), "not valid JSON");
  expect_error(safetensors_bytes("[1, 2]  ", ""), "not a JSON object");
  expect_error(safetensors_bytes(std::string(100, '[') + std::string(100, ']'), ""), "nested deeper");

  json header;
  header["w"] = entry("Q4", {1}, 0, 1);
  expect_error(file_with(header, 1), "tensor 'w' has unknown dtype 'Q4'");
  header["w"] = entry("U16", {1}, 0, 2);
  expect_error(file_with(header, 2), "tensor 'w' has unsupported dtype 'U16'");
  header["w"] = {{"dtype", "F32"}, {"shape", {1}}};
  expect_error(file_with(header, 4), "tensor 'w' has no 'data_offsets'");
  header = json::object();
  header["__metadata__"] = {{"config", 3}};
  expect_error(file_with(header, 0), "__metadata__ entry 'config' is not a string");
}

TEST(Sharded, OpensAllShardsAsOneSource) {
  ScratchDir dir;
  json h1, h2;
  h1["a"] = entry("F32", {2}, 0, 8);
  h1["__metadata__"] = {{"format", "pt"}};
  h2["b"] = entry("I64", {1}, 0, 8);
  write_file(dir / "m-00001-of-00002.safetensors", safetensors_bytes(padded(h1), raw_bytes<float>({1.f, 2.f})));
  write_file(dir / "m-00002-of-00002.safetensors", safetensors_bytes(padded(h2), raw_bytes<int64_t>({-9})));
  json index = {{"metadata", {{"total_size", 16}}},
                {"weight_map", {{"a", "m-00001-of-00002.safetensors"}, {"b", "m-00002-of-00002.safetensors"}}}};
  write_file(dir / "m.safetensors.index.json", index.dump());

  auto source = open_weights(dir / "m.safetensors.index.json");
  EXPECT_EQ(source->format(), "safetensors-index");
  EXPECT_EQ(source->names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(at::equal(source->load("a"), at::tensor({1.f, 2.f})));
  EXPECT_EQ(source->load("b").item<int64_t>(), -9);
  EXPECT_EQ(source->metadata().at("total_size"), "16");
  EXPECT_EQ(source->metadata().at("format"), "pt");

  index["weight_map"]["c"] = "m-00003-of-00002.safetensors";
  write_file(dir / "missing.safetensors.index.json", index.dump());
  EXPECT_THROW_WITH(open_weights(dir / "missing.safetensors.index.json"), ModelError,
                    "shard 'm-00003-of-00002.safetensors' (named for tensor 'c') does not exist");

  index["weight_map"]["c"] = "m-00001-of-00002.safetensors";
  write_file(dir / "absent.safetensors.index.json", index.dump());
  EXPECT_THROW_WITH(open_weights(dir / "absent.safetensors.index.json"), ModelError,
                    "tensor 'c' is not in its shard 'm-00001-of-00002.safetensors'");

  index["weight_map"]["c"] = "../elsewhere.safetensors";
  write_file(dir / "escape.safetensors.index.json", index.dump());
  EXPECT_THROW_WITH(open_weights(dir / "escape.safetensors.index.json"), ModelError, "outside the index's folder");

  write_file(dir / "bad.safetensors.index.json", "{\"weight_map\": 3}");
  EXPECT_THROW_WITH(open_weights(dir / "bad.safetensors.index.json"), ModelError, "no \"weight_map\" object");
}

TEST(OpenWeights, ReportsUnusablePaths) {
  ScratchDir dir;
  EXPECT_THROW_WITH(open_weights(dir / "absent.safetensors"), ModelError, "absent.safetensors': no such file");
  EXPECT_THROW_WITH(open_weights(dir.path()), ModelError, "is a directory");
  write_file(dir / "empty.bin", "");
  EXPECT_THROW_WITH(open_weights(dir / "empty.bin"), ModelError, "is empty");
  write_file(dir / "text.bin", "hello, this is not a model");
  EXPECT_THROW_WITH(open_weights(dir / "text.bin"), ModelError, "not a known weights format");
  write_file(dir / "model.gguf", "GGUF\x03\0\0\0\0\0\0\0\0\0\0\0");
  EXPECT_THROW_WITH(open_weights(dir / "model.gguf"), ModelError, "GGUF");
  write_file(dir / "old.pth", std::string("\x80\x02\x8a\x0a", 4) + "legacy");
  EXPECT_THROW_WITH(open_weights(dir / "old.pth"), ModelError, "legacy");
}

TEST(OpenWeights, ReportsAnUnreadableFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads files whatever their mode";
  ScratchDir dir;
  json header;
  header["w"] = entry("F32", {1}, 0, 4);
  write_file(dir / "locked.safetensors", safetensors_bytes(padded(header), raw_bytes<float>({1.f})));
  ::chmod((dir / "locked.safetensors").c_str(), 0);
  EXPECT_THROW_WITH(open_weights(dir / "locked.safetensors"), ModelError, "cannot open: Permission denied");
}

// The golden reference files (copied to tests/data/golden by the lead; the
// SORAGEN_GOLDEN_DIR environment variable points elsewhere).
TEST(Golden, FilesOpenAndCarryAConfig) {
  const char* env = std::getenv("SORAGEN_GOLDEN_DIR");
  const std::filesystem::path dir = env ? std::filesystem::path(env) : testing::data_dir() / "golden";
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& item : std::filesystem::directory_iterator(dir, ec)) {
    if (item.path().extension() == ".safetensors") files.push_back(item.path());
  }
  if (files.empty()) GTEST_SKIP() << "no golden files in " << dir;
  for (const auto& file : files) {
    auto source = open_weights(file);
    EXPECT_GT(source->size(), 0u) << file;
    ASSERT_EQ(source->metadata().count("config"), 1u) << file;
    EXPECT_TRUE(json::parse(source->metadata().at("config")).is_object()) << file;
    const std::string first = source->names().front();
    EXPECT_EQ(source->load(first).numel(), source->info(first).numel()) << file;
  }
}

}  // namespace
}  // namespace soragen::io
