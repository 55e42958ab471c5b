// Every field of the request table reaches every place that reads or writes
// a request: its flag, its JSON Lines key, the resolved request and the
// metadata stored in a video. A new field added to the table is checked here
// with no new test.
#include <gtest/gtest.h>

#include <algorithm>

#include <set>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/batch.h"
#include "cli/options.h"
#include "soragen/output.h"
#include "soragen/request_fields.h"

namespace soragen::cli {
namespace {

// A value each field accepts: the struct's own default where it has one,
// else the first of a few small numbers (or words, or true) its rule takes.
template <typename T>
T sample_value(const RequestField<T>& field) {
  if constexpr (std::is_same_v<T, std::string>) {
    const GenerationDefaults defaults;
    if (field.model_default && !(defaults.*field.model_default).empty()) return defaults.*field.model_default;
    // A word, or for a field with a vocabulary (--cache), a word of it, or
    // for an output name (--preview), an MP4's.
    for (const char* candidate : {"word", "fbcache", "word.mp4"}) {
      if (!field.rule || field.rule(candidate).empty()) return std::string(candidate);
    }
    return std::string("word");
  } else if constexpr (std::is_same_v<T, bool>) {
    return true;  // a flag given is true
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    std::vector<std::string> words;
    // A repeatable flag (values 0) takes one value each time.
    for (int i = 0; i < std::max(field.values, 1); ++i) words.push_back("word" + std::to_string(i));
    return words;
  } else {
    if (field.model_default) return GenerationDefaults{}.*field.model_default;
    for (const T candidate : {T(7), T(9), T(0.5)}) {
      if (!field.rule || field.rule(candidate).empty()) return candidate;
    }
    return T(7);
  }
}

// The value as the command line spells it after the flag.
template <typename T>
std::string as_text(const T& value) {
  if constexpr (std::is_same_v<T, std::string>) {
    return value;
  } else if constexpr (std::is_same_v<T, bool>) {
    return "";  // a flag takes no value
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    std::string out;
    for (const std::string& word : value) out += (out.empty() ? "" : " ") + word;
    return out;
  } else {
    std::ostringstream out;
    out << value;
    return out.str();
  }
}

TEST(RequestFields, KeysAndFlagsAreUniqueAndDescribed) {
  std::set<std::string> keys;
  std::set<std::string> flags;
  for (const AnyRequestField& any : request_fields()) {
    std::visit(
        [&](const auto& field) {
          EXPECT_TRUE(keys.insert(field.key).second) << field.key;
          EXPECT_TRUE(flags.insert(field.flag).second) << field.flag;
          EXPECT_NE(std::string(field.flags).find(field.flag), std::string::npos) << field.key;
          EXPECT_NE(std::string(field.help), "") << field.key;
          EXPECT_EQ(find_request_field(field.key), &any);
          const auto value = sample_value(field);
          EXPECT_EQ(request_field_error(field, value), "") << field.key << " rejects its sample " << as_text(value);
        },
        any);
  }
  EXPECT_EQ(find_request_field("prompt"), nullptr);  // the prompt is outside the table
  EXPECT_EQ(find_request_field("no_such_field"), nullptr);
}

TEST(RequestFields, EachFlagSetsItsFieldAndOnlyIt) {
  for (const AnyRequestField& any : request_fields()) {
    std::visit(
        [&](const auto& field) {
          CLI::App app;
          CliOptions options;
          add_options(app, options);
          const auto value = sample_value(field);
          app.parse(std::string("--prompt p ") + field.flag + " " + as_text(value), false);
          const GenerationRequest request = request_from_flags(options);
          EXPECT_EQ(request.prompt, "p");
          ASSERT_TRUE((request.*field.requested).has_value()) << field.flag;
          EXPECT_EQ(*(request.*field.requested), value) << field.flag;
          EXPECT_NE(app.help().find(field.flag), std::string::npos) << field.flag;
          for (const AnyRequestField& other_any : request_fields()) {
            std::visit(
                [&](const auto& other) {
                  if (other.key != std::string(field.key)) {
                    EXPECT_FALSE((request.*other.requested).has_value()) << field.flag << " set " << other.key;
                  }
                },
                other_any);
          }
        },
        any);
  }
}

TEST(RequestFields, ARepeatableFlagAddsUpOneValueAtATime) {
  CLI::App app;
  CliOptions options;
  add_options(app, options);
  app.parse("--prompt p --lora a.safetensors:0.5 --lora b.safetensors", false);
  const GenerationRequest request = request_from_flags(options);
  ASSERT_TRUE(request.lora.has_value());
  EXPECT_EQ(*request.lora, (std::vector<std::string>{"a.safetensors:0.5", "b.safetensors"}));
  CLI::App strict;
  CliOptions unused;
  add_options(strict, unused);
  EXPECT_THROW(strict.parse("--prompt p --lora a.safetensors b.safetensors", false), CLI::ParseError);
}

TEST(RequestFields, EachJsonKeyOverridesTheBase) {
  for (const AnyRequestField& any : request_fields()) {
    std::visit(
        [&](const auto& field) {
          const auto value = sample_value(field);
          nlohmann::json line = {{"prompt", "p"}, {field.key, value}};
          std::istringstream in(line.dump());
          const PromptFile file = parse_prompt_file(in, GenerationRequest{});
          ASSERT_EQ(file.items.size(), 1u) << (file.errors.empty() ? "" : file.errors[0].message);
          const GenerationRequest& request = file.items[0].request;
          ASSERT_TRUE((request.*field.requested).has_value()) << field.key;
          EXPECT_EQ(*(request.*field.requested), value) << field.key;
        },
        any);
  }
}

TEST(RequestFields, ResolvedValuesReachTheMetadata) {
  GenerationRequest request;
  request.prompt = "p";
  for (const AnyRequestField& any : request_fields()) {
    std::visit([&](const auto& field) { request.*field.requested = sample_value(field); }, any);
  }
  const ResolvedRequest resolved = resolve_request(request, GenerationDefaults{});
  const nlohmann::json meta = nlohmann::json::parse(generation_metadata(resolved, ModelSource{}));
  EXPECT_EQ(meta.at("prompt"), "p");
  for (const AnyRequestField& any : request_fields()) {
    std::visit(
        [&](const auto& field) {
          using T = typename std::decay_t<decltype(field)>::value_type;
          EXPECT_EQ(resolved.*field.resolved, sample_value(field)) << field.key;
          ASSERT_TRUE(meta.contains(field.key)) << field.key;
          EXPECT_EQ(meta.at(field.key).template get<T>(), sample_value(field)) << field.key;
        },
        any);
  }
}

TEST(RequestFields, UnsetFieldsTakeTheModelDefaults) {
  GenerationDefaults defaults;
  defaults.frames = 17;
  defaults.sampler = "euler";
  GenerationRequest request;
  request.prompt = "p";
  const ResolvedRequest resolved = resolve_request(request, defaults);
  for (const AnyRequestField& any : request_fields()) {
    std::visit(
        [&](const auto& field) {
          if (field.model_default) {
            EXPECT_EQ(resolved.*field.resolved, defaults.*field.model_default) << field.key;
          }
        },
        any);
  }
}

}  // namespace
}  // namespace soragen::cli
