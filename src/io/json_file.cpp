#include "io/json_file.h"

#include <fstream>
#include <system_error>

#include "io/json_depth.h"
#include "soragen/error.h"

namespace soragen::io {

nlohmann::json parse_json_object(const std::string& text, const std::string& where) {
  if (text.size() > kMaxJsonConfigBytes) {
    throw ModelError(where + ": is " + std::to_string(text.size()) + " bytes, over the limit of " +
                     std::to_string(kMaxJsonConfigBytes) + " for a JSON config");
  }
  if (json_nested_deeper_than(text, kMaxJsonConfigDepth)) {
    throw ModelError(where + ": nests deeper than " + std::to_string(kMaxJsonConfigDepth) + " levels");
  }
  nlohmann::json value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) throw ModelError(where + ": not valid JSON");
  if (!value.is_object()) throw ModelError(where + ": not a JSON object");
  return value;
}

nlohmann::json read_json_object(const std::filesystem::path& path, std::string where) {
  if (where.empty()) where = "config '" + path.string() + "'";
  std::error_code ec;
  std::ifstream in(path, std::ios::binary);
  if (!in || std::filesystem::is_directory(path, ec)) throw ModelError(where + ": cannot open");
  // A huge file is refused unread.
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (!ec && size > kMaxJsonConfigBytes) {
    throw ModelError(where + ": is " + std::to_string(size) + " bytes, over the limit of " +
                     std::to_string(kMaxJsonConfigBytes) + " for a JSON config");
  }
  std::string text;
  text.resize(kMaxJsonConfigBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) throw ModelError(where + ": cannot read");
  text.resize(static_cast<size_t>(in.gcount()));
  return parse_json_object(text, where);
}

}  // namespace soragen::io
