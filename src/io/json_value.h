// One JSON value read as a C++ type, with the checks nlohmann leaves out: it
// converts a float to int with a plain cast (undefined behaviour when out of
// range), a bool to a number, and wraps a negative number into an unsigned.
// Header-only, so the CLI (prompt files) and the library (model.json) share it.
#pragma once

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

namespace soragen::io {

// `value` as a T (an integral or floating type, bool, std::string or a list
// of strings). Throws std::invalid_argument naming `key`: "\"frames\" must
// be a whole number".
template <typename T>
T json_value_as(const nlohmann::json& value, const std::string& key) {
  const auto fail = [&](const char* problem) { return std::invalid_argument("\"" + key + "\" " + problem); };
  if constexpr (std::is_same_v<T, std::string>) {
    if (!value.is_string()) throw fail("must be a string");
    return value.get<std::string>();
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!value.is_boolean()) throw fail("must be true or false");
    return value.get<bool>();
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    if (!value.is_array()) throw fail("must be a list of strings");
    std::vector<std::string> out;
    for (const auto& item : value) {
      if (!item.is_string()) throw fail("must be a list of strings");
      out.push_back(item.get<std::string>());
    }
    return out;
  } else {
    if (!value.is_number()) throw fail("must be a number");
    if constexpr (std::is_integral_v<T>) {
      if (!value.is_number_integer()) throw fail("must be a whole number");
      if (value.is_number_unsigned()) {
        if (value.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) {
          throw fail("is out of range");
        }
        return static_cast<T>(value.get<std::uint64_t>());
      }
      const auto v = value.get<std::int64_t>();
      if (v < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
          (v > 0 && static_cast<std::uint64_t>(v) > static_cast<std::uint64_t>(std::numeric_limits<T>::max()))) {
        throw fail("is out of range");
      }
      return static_cast<T>(v);
    } else {
      return value.get<T>();
    }
  }
}

}  // namespace soragen::io
