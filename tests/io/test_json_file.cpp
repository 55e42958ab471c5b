// The bounded JSON config reader every config goes through.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "expect_throw.h"
#include "io/json_file.h"
#include "soragen/error.h"
#include "test_util.h"

namespace soragen::io {
namespace {

TEST(JsonFile, ParsesAnObject) {
  const nlohmann::json value = parse_json_object(R"({"dim": 64, "eps": 1e-6})", "config 'x'");
  EXPECT_EQ(value.at("dim").get<int>(), 64);
}

TEST(JsonFile, RefusesWhatIsNotABoundedObject) {
  SORAGEN_EXPECT_THROW_MESSAGE(parse_json_object("[1, 2]", "config 'x'"), ModelError,
                               "config 'x': not a JSON object", true);
  SORAGEN_EXPECT_THROW_MESSAGE(parse_json_object("{\"dim\": ", "config 'x'"), ModelError,
                               "config 'x': not valid JSON", true);
  SORAGEN_EXPECT_THROW_MESSAGE(parse_json_object(std::string(40, '[') + std::string(40, ']'), "config 'x'"),
                               ModelError, "config 'x': nests deeper than 32 levels", true);
  const std::string huge = "{\"pad\": \"" + std::string(kMaxJsonConfigBytes, ' ') + "\"}";
  SORAGEN_EXPECT_THROW_MESSAGE(parse_json_object(huge, "config 'x'"), ModelError, "over the limit of 1048576",
                               true);
}

TEST(JsonFile, ReadsFilesWithTheSameBounds) {
  test::TempDir dir;
  std::ofstream(dir / "ok.json") << R"({"z_dim": 16})";
  EXPECT_EQ(read_json_object(dir / "ok.json").at("z_dim").get<int>(), 16);
  SORAGEN_EXPECT_THROW_MESSAGE(read_json_object(dir / "absent.json"), ModelError, "absent.json': cannot open", true);
  {
    std::ofstream big(dir / "big.json");
    big << "{\"pad\": \"" << std::string(kMaxJsonConfigBytes + 10, ' ') << "\"}";
  }
  SORAGEN_EXPECT_THROW_MESSAGE(read_json_object(dir / "big.json"), ModelError, "over the limit", true);
  SORAGEN_EXPECT_THROW_MESSAGE(read_json_object(dir / "absent.json", "VAE config 'v'"), ModelError,
                               "VAE config 'v': cannot open", true);
}

}  // namespace
}  // namespace soragen::io
