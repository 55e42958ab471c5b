// umT5 configs (src/text_encoder/umt5_config.cpp): parsing, aliases, errors.
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

TEST(text_encoder_config, TheXxlFileParses) {
  const UMT5Config c = UMT5Config::from_file(std::filesystem::path(SORAGEN_SOURCE_MODELS_DIR) / "configs/umt5-xxl.json");
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
  const UMT5Config c = UMT5Config::from_json(golden.config(), "golden");
  EXPECT_EQ(c.num_layers, 3);
  EXPECT_EQ(c.head_dim(), 16);
}

TEST(text_encoder_config, MaxDistanceIsAnAlias) {
  nlohmann::json json = xxl_json();
  json.erase("max_dist");
  json["max_distance"] = 64;
  EXPECT_EQ(UMT5Config::from_json(json, "test").max_dist, 64);
}

TEST(text_encoder_config, ErrorsNameTheOriginAndTheKey) {
  const auto with = [](const char* key, const nlohmann::json& value) {
    nlohmann::json json = xxl_json();
    json[key] = value;
    return json;
  };
  nlohmann::json missing = xxl_json();
  missing.erase("num_heads");
  EXPECT_ERROR(UMT5Config::from_json(missing, "config 'x.json'"), ModelError, "config 'x.json': missing 'num_heads'");
  EXPECT_ERROR(UMT5Config::from_json(with("dim", "4096"), "c"), ModelError, "'dim' must be an integer");
  EXPECT_ERROR(UMT5Config::from_json(with("dim", 4096.5), "c"), ModelError, "'dim' must be an integer");
  EXPECT_ERROR(UMT5Config::from_json(with("num_layers", 0), "c"), ModelError, "'num_layers' must be positive");
  EXPECT_ERROR(UMT5Config::from_json(with("vocab", -5), "c"), ModelError, "'vocab' must be positive");
  EXPECT_ERROR(UMT5Config::from_json(with("num_heads", 48), "c"), ModelError, "num_heads 48 does not divide dim_attn 4096");
  EXPECT_ERROR(UMT5Config::from_json(with("shared_pos", true), "c"), ModelError, "'shared_pos' true is not supported");
  EXPECT_ERROR(UMT5Config::from_json(with("bidirectional", false), "c"), ModelError, "'bidirectional' false");
  EXPECT_ERROR(UMT5Config::from_json(with("shared_pos", 0), "c"), ModelError, "'shared_pos' must be true or false");
  EXPECT_ERROR(UMT5Config::from_json(with("num_buckets", 33), "c"), ModelError, "num_buckets must be even");
  EXPECT_ERROR(UMT5Config::from_json(with("max_dist", 8), "c"), ModelError, "max_dist 8 must exceed");
  EXPECT_ERROR(UMT5Config::from_json(with("eps", -1.0), "c"), ModelError, "'eps' must be positive");
  EXPECT_ERROR(UMT5Config::from_json(with("eps", "small"), "c"), ModelError, "'eps' must be a number");
  EXPECT_ERROR(UMT5Config::from_json(nlohmann::json::array(), "c"), ModelError, "expected a JSON object");
}

TEST(text_encoder_config, FileErrors) {
  test::TempDir dir;
  EXPECT_ERROR(UMT5Config::from_file(dir / "absent.json"), ModelError, "absent.json': cannot open");
  std::ofstream(dir / "bad.json") << "{\"dim\": ";
  EXPECT_ERROR(UMT5Config::from_file(dir / "bad.json"), ModelError, "bad.json': not valid JSON");
}

}  // namespace
}  // namespace soragen::text_encoder
