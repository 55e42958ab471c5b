// The two faces of a text parser that throws std::invalid_argument naming
// the part that is wrong (parse_guidance_method, parse_step_cache): a
// request field's rule, and the value of a flag.
#pragma once

#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "soragen/error.h"

namespace soragen::core {

// "" when `text` parses, else the parser's reason (a request field's rule).
template <typename Parse>
std::string parse_error(Parse parse, const std::string& text) {
  try {
    parse(text);
    return "";
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
}

// The parsed value; a bad text is a UsageError "FLAG TEXT: reason".
template <typename Parse>
auto parse_flag(Parse parse, const std::string& flag, const std::string& text) {
  try {
    return parse(text);
  } catch (const std::invalid_argument& e) {
    throw UsageError(flag + " " + text + ": " + e.what());
  }
}

// `text` cut at every `separator` ("a,b," -> "a", "b", "").
inline std::vector<std::string> split_text(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string::size_type begin = 0;
  while (true) {
    const std::string::size_type end = text.find(separator, begin);
    parts.push_back(text.substr(begin, end == std::string::npos ? std::string::npos : end - begin));
    if (end == std::string::npos) return parts;
    begin = end + 1;
  }
}

// The finite number `value` is; throws std::invalid_argument
// "KEY='VALUE' is not a number".
inline double parse_number(const std::string& key, const std::string& value) {
  char* end = nullptr;
  const double number = value.empty() ? NAN : std::strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0' || !std::isfinite(number)) {
    throw std::invalid_argument(key + "='" + value + "' is not a number");
  }
  return number;
}

}  // namespace soragen::core
