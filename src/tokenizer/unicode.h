// UTF-8 <-> code points, strict like Python's str: the reference pipeline
// only ever sees valid Unicode text, so malformed input is the caller's error.
#pragma once

#include <string>
#include <string_view>

namespace soragen::tokenizer {

// UsageError naming the byte offset of the first malformed sequence
// (overlong forms, surrogates and values past U+10FFFF included).
std::u32string utf8_decode(std::string_view utf8);

// Surrogates must not be passed in (the unescaper never produces them).
std::string utf8_encode(std::u32string_view text);

}  // namespace soragen::tokenizer
