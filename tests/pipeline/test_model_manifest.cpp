// model.json as data: the bounds on its size and nesting, and defaults that
// must be what they say (nlohmann would cast 1e30 to int silently).
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

#include <nlohmann/json.hpp>

#include "pipeline/model_manifest.h"
#include "soragen/error.h"

namespace soragen::pipeline {
namespace {

std::string default_manifest() {
  std::ifstream in(std::string(SORAGEN_SOURCE_MODELS_DIR) + "/default/model.json");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string manifest_error(const std::string& text) {
  try {
    parse_model_manifest(text, "/m/model.json");
  } catch (const ModelError& e) {
    return e.what();
  }
  return "";
}

TEST(ModelManifest, TheDefaultParsesWithoutTouchingItsFiles) {
  const ModelFiles files = parse_model_manifest(default_manifest(), "/nowhere/model.json");
  EXPECT_EQ(files.dit, "/nowhere/dit.safetensors");
  EXPECT_GT(files.dit_config.num_layers, 0);
}

TEST(ModelManifest, SizeAndNestingLimits) {
  EXPECT_EQ(manifest_error("{\"pad\": \"" + std::string(1u << 20, ' ') + "\"}"),
            "model file '/m/model.json': is 1048587 bytes, over the limit of 1048576 for a JSON config");
  EXPECT_EQ(manifest_error(std::string(40, '[') + std::string(40, ']')),
            "model file '/m/model.json': nests deeper than 32 levels");
  EXPECT_EQ(manifest_error("[1]"), "model file '/m/model.json': not a JSON object");
}

TEST(ModelManifest, DefaultsAreChecked) {
  nlohmann::json model = nlohmann::json::parse(default_manifest());
  model["defaults"] = {{"frames", 1e30}};
  EXPECT_EQ(manifest_error(model.dump()),
            "model file '/m/model.json': bad \"defaults\": \"frames\" must be a whole number");
  model["defaults"] = {{"steps", 1ll << 40}};
  EXPECT_EQ(manifest_error(model.dump()), "model file '/m/model.json': bad \"defaults\": \"steps\" is out of range");
  model["defaults"] = {{"sampler", 3}};
  EXPECT_EQ(manifest_error(model.dump()), "model file '/m/model.json': bad \"defaults\": \"sampler\" must be a string");
  model["defaults"] = {{"fps", true}};
  EXPECT_EQ(manifest_error(model.dump()), "model file '/m/model.json': bad \"defaults\": \"fps\" must be a number");
  model["defaults"] = 7;
  EXPECT_EQ(manifest_error(model.dump()), "model file '/m/model.json': bad \"defaults\": must be an object");
}

}  // namespace
}  // namespace soragen::pipeline
