// Every field of a generation request, described once. The CLI flags, the
// JSON Lines keys of a prompt file, a model's "defaults" in model.json, the
// rules a value must keep and the metadata stored in each video are all
// driven by this table, so a new field is one entry (plus its rule) in
// src/pipeline/request_fields.cpp and a member in the three request structs
// of soragen/options.h.
//
// The prompt is the one field outside the table: it is required, has no model
// default, and a prompt file line may be nothing but the prompt.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "soragen/options.h"

namespace soragen {

// One request field whose value is a T.
template <typename T>
struct RequestField {
  using value_type = T;
  const char* key;    // JSON Lines key, model.json "defaults" key and metadata key
  const char* flags;  // the CLI's spelling, short names included: "-n,--negative-prompt"
  const char* flag;   // the long flag that error messages name: "--negative-prompt"
  const char* help;   // --help text
  const char* group;  // --help section
  std::optional<T> GenerationRequest::*requested;
  // nullptr: no model default; an unset value keeps ResolvedRequest's initial
  // one (resolve_request draws a missing seed at random).
  T GenerationDefaults::*model_default;
  T ResolvedRequest::*resolved;
  // What is wrong with a value ("must be ..."), or an empty string when it is
  // fine; nullptr when every value is.
  std::string (*rule)(const T& value);
  // A list field's count of values on the command line (--connect A B: 2);
  // 0: one value per flag, the flag repeatable (--lora A --lora B).
  int values = 1;
};

// bool fields are CLI flags without a value (--loop); a list of strings is
// one flag with a fixed count of values (--connect A B), `values` of them.
using AnyRequestField = std::variant<RequestField<int>, RequestField<double>, RequestField<std::string>,
                                     RequestField<std::uint64_t>, RequestField<bool>,
                                     RequestField<std::vector<std::string>>>;

// Every field but the prompt, in the order of --help and of the metadata.
const std::vector<AnyRequestField>& request_fields();

// The field with this JSON key, or nullptr.
const AnyRequestField* find_request_field(const std::string& key);

// Why `value` breaks the field's rule, as the message of a UsageError
// ("--frames 18: must be of the form 4k+1 ..."), or an empty string.
template <typename T>
std::string request_field_error(const RequestField<T>& field, const T& value);

}  // namespace soragen
