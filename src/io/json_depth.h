// How deeply a JSON text nests, counted on the raw text before parsing, so a
// hostile file (a million '[') is refused before the parser builds a tree
// for it. Used by the safetensors header and the model/config readers.
#pragma once

#include <cstddef>
#include <string_view>

namespace soragen::io {

// True when objects/arrays nest more than `limit` levels (brackets inside
// strings, escapes included, are not counted).
bool json_nested_deeper_than(std::string_view text, int limit);

}  // namespace soragen::io
