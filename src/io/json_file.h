// The one way soragen reads a JSON config (model.json, config.json, the
// umT5, DiT and VAE configs): bounded in size and nesting before the parser
// builds anything, so a hostile or corrupt file is one ModelError, never a
// parser running out of memory or stack. Real configs are a few KB deep 3.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace soragen::io {

inline constexpr std::uint64_t kMaxJsonConfigBytes = std::uint64_t{1} << 20;
inline constexpr int kMaxJsonConfigDepth = 32;

// Parses `text` as a JSON object. `where` starts every error message
// ("config '/m/config.json'"): "<where>: is N bytes, over the limit ...",
// "<where>: nests deeper than 32 levels", "<where>: not valid JSON",
// "<where>: not a JSON object".
nlohmann::json parse_json_object(const std::string& text, const std::string& where);

// Reads and parses a file the same way; "<where>: cannot open" when it cannot
// be read. `where` defaults to "config '<path>'".
nlohmann::json read_json_object(const std::filesystem::path& path, std::string where = {});

}  // namespace soragen::io
