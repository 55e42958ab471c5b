// model.json as data: the bounds on its size and nesting, and defaults that
// must be what they say (nlohmann would cast 1e30 to int silently).
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline/model_manifest.h"
#include "soragen/error.h"
#include "soragen/request_fields.h"

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

// A value the field's rule accepts that differs from the Wan2.1 default, so
// that reading it is seen.
template <typename T>
T other_valid_value(const RequestField<T>& field) {
  std::vector<T> candidates;
  if constexpr (std::is_same_v<T, std::string>) {
    candidates = {"euler", "dpm++", "cfg-zero-star", "a word"};
  } else {
    candidates = {T(17), T(16), T(64), T(3), T(2)};
  }
  for (const T& value : candidates) {
    if (value != wan_t2v_defaults().*field.model_default && request_field_error(field, value).empty()) return value;
  }
  ADD_FAILURE() << field.key << ": no candidate value fits its rule";
  return T();
}

TEST(ModelManifest, EveryFieldWithADefaultIsReadFromDefaults) {
  for (const AnyRequestField& any : request_fields()) {
    std::visit(
        [&](const auto& field) {
          if (!field.model_default) return;
          nlohmann::json model = nlohmann::json::parse(default_manifest());
          const auto value = other_valid_value(field);
          model["defaults"] = {{field.key, value}};
          const ModelFiles files = parse_model_manifest(model.dump(), "/m/model.json");
          EXPECT_EQ(files.defaults.*field.model_default, value) << field.key;
        },
        any);
  }
}

TEST(ModelManifest, DefaultsKeepTheFieldRules) {
  nlohmann::json model = nlohmann::json::parse(default_manifest());
  model["defaults"] = {{"frames", 18}};
  EXPECT_EQ(manifest_error(model.dump()),
            "model file '/m/model.json': bad \"defaults\": \"frames\" must be of the form 4k+1 between 1 and 4001 "
            "(1, 5, 9, ..., 81)");
  model["defaults"] = {{"sampler", "ddim"}};
  EXPECT_EQ(manifest_error(model.dump()),
            "model file '/m/model.json': bad \"defaults\": \"sampler\" expected unipc, dpm++ or euler");
}

}  // namespace
}  // namespace soragen::pipeline
