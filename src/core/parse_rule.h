// The two faces of a text parser that throws std::invalid_argument naming
// the part that is wrong (parse_guidance_method, parse_step_cache): a
// request field's rule, and the value of a flag.
#pragma once

#include <stdexcept>
#include <string>

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

}  // namespace soragen::core
