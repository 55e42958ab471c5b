#include "cli/batch.h"

#include <chrono>
#include <cctype>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "io/json_value.h"
#include "soragen/error.h"
#include "soragen/request_fields.h"

namespace soragen::cli {
namespace {

using nlohmann::json;

std::string trim(const std::string& text) {
  const auto begin = text.find_first_not_of(" \t\r\n\f\v");
  if (begin == std::string::npos) return "";
  const auto end = text.find_last_not_of(" \t\r\n\f\v");
  return text.substr(begin, end - begin + 1);
}

// Rejects binary files early: NUL bytes and malformed UTF-8 sequences.
bool valid_utf8(const std::string& text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    int extra = 0;
    if (byte == 0) return false;
    if (byte < 0x80) extra = 0;
    else if ((byte >> 5) == 0x6) extra = 1;
    else if ((byte >> 4) == 0xE) extra = 2;
    else if ((byte >> 3) == 0x1E) extra = 3;
    else return false;
    if (i + extra >= text.size()) return false;
    for (int k = 1; k <= extra; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) >> 6) != 0x2) return false;
    }
    i += extra + 1;
  }
  return true;
}

// A JSON value as the field's type; the line number says where, so the
// message names only the key.
template <typename T>
T json_field_value(const json& value, const std::string& key) {
  try {
    return io::json_value_as<T>(value, key);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
}

PromptItem parse_json_line(const std::string& text, int line, const GenerationRequest& base) {
  const json object = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded()) throw UsageError("not valid JSON");
  if (!object.is_object()) throw UsageError("a JSON line must be an object with a \"prompt\"");
  PromptItem item;
  item.line = line;
  item.request = base;
  if (!object.contains("prompt")) throw UsageError("missing \"prompt\"");
  for (const auto& [key, value] : object.items()) {
    if (key == "prompt") {
      item.request.prompt = json_field_value<std::string>(value, key);
    } else if (key == "output") {
      item.output = json_field_value<std::string>(value, key);
    } else if (const AnyRequestField* field = find_request_field(key)) {
      std::visit(
          [&](const auto& f) {
            using T = typename std::decay_t<decltype(f)>::value_type;
            item.request.*f.requested = json_field_value<T>(value, key);
          },
          *field);
    } else {
      throw UsageError("unknown key \"" + key + "\"");
    }
  }
  return item;
}

// std::getline with a bound: reads through the next '\n' but keeps at most
// `limit` bytes, so one endless line cannot take all memory. False at the end.
bool read_bounded_line(std::istream& in, std::string* out, std::size_t limit, bool* too_long) {
  out->clear();
  *too_long = false;
  std::streambuf* buf = in.rdbuf();
  if (!buf) return false;
  bool any = false;
  for (;;) {
    const int c = buf->sbumpc();
    if (c == std::char_traits<char>::eof()) {
      in.setstate(std::ios::eofbit);
      return any;
    }
    any = true;
    if (c == '\n') return true;
    if (out->size() < limit) out->push_back(static_cast<char>(c));
    else *too_long = true;
  }
}

}  // namespace

PromptFile parse_prompt_file(std::istream& in, const GenerationRequest& base) {
  PromptFile file;
  std::string raw;
  int line = 0;
  bool too_long = false;
  while (read_bounded_line(in, &raw, kMaxPromptLineBytes, &too_long)) {
    ++line;
    if (file.items.size() + file.errors.size() >= kMaxPromptFileItems) {
      throw UsageError("prompt file has more than " + std::to_string(kMaxPromptFileItems) +
                       " items (line " + std::to_string(line) + "); split it into smaller files");
    }
    if (too_long) {
      file.errors.push_back({line, "line is longer than " + std::to_string(kMaxPromptLineBytes) + " bytes"});
      continue;
    }
    if (line == 1 && raw.rfind("\xEF\xBB\xBF", 0) == 0) raw.erase(0, 3);  // UTF-8 BOM
    const std::string text = trim(raw);
    if (text.empty() || text[0] == '#') continue;
    try {
      if (!valid_utf8(text)) throw UsageError("not valid UTF-8 text");
      PromptItem item;
      if (text[0] == '{') {
        item = parse_json_line(text, line, base);
      } else {
        item.line = line;
        item.request = base;
        item.request.prompt = text;
      }
      // Flags messages name the flag; in a file, the line number says where.
      validate_request(item.request);
      file.items.push_back(std::move(item));
    } catch (const UsageError& e) {
      file.errors.push_back({line, e.what()});
    }
  }
  return file;
}

PromptFile read_prompt_file(const std::string& path, const GenerationRequest& base) {
  if (path == "-") return parse_prompt_file(std::cin, base);
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw UsageError("--prompt-file '" + path + "': is a directory, expected a text file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError("--prompt-file '" + path + "': cannot be read (missing or no permission)");
  PromptFile file = parse_prompt_file(in, base);
  if (in.bad()) throw UsageError("--prompt-file '" + path + "': read error");
  return file;
}

std::string slugify(const std::string& prompt) {
  std::string slug;
  bool dash = false;
  for (const char c : prompt) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x80 && std::isalnum(byte)) {
      if (dash && !slug.empty()) slug += '-';
      slug += static_cast<char>(std::tolower(byte));
      dash = false;
      if (slug.size() >= 48) break;
    } else {
      dash = true;
    }
  }
  while (!slug.empty() && slug.back() == '-') slug.pop_back();
  return slug.empty() ? "video" : slug;
}

bool pattern_names_items(const std::string& pattern) {
  return pattern.find("{index") != std::string::npos || pattern.find("{slug}") != std::string::npos ||
         pattern.find("{line}") != std::string::npos;
}

std::string expand_output_pattern(const std::string& pattern, int index, int line, const std::string& prompt,
                                  std::uint64_t seed) {
  std::string out;
  std::size_t i = 0;
  while (i < pattern.size()) {
    if (pattern[i] != '{') {
      out += pattern[i++];
      continue;
    }
    const std::size_t close = pattern.find('}', i);
    if (close == std::string::npos) throw UsageError("-o '" + pattern + "': '{' without a closing '}'");
    const std::string field = pattern.substr(i + 1, close - i - 1);
    if (field == "index" || field == "line" || field == "seed") {
      out += field == "index" ? std::to_string(index) : field == "line" ? std::to_string(line) : std::to_string(seed);
    } else if (field == "slug") {
      out += slugify(prompt);
    } else if (field.rfind("index:0", 0) == 0 && field.size() == 8 && std::isdigit(static_cast<unsigned char>(field[7]))) {
      std::string number = std::to_string(index);
      const std::size_t width = static_cast<std::size_t>(field[7] - '0');
      if (number.size() < width) number.insert(0, width - number.size(), '0');
      out += number;
    } else {
      throw UsageError("-o '" + pattern + "': unknown placeholder {" + field +
                       "}; use {index}, {index:04}, {slug}, {seed} or {line}");
    }
    i = close + 1;
  }
  return out;
}

BatchSummary run_batch(const std::vector<BatchJob>& jobs, bool skip_existing, const RenderJob& render,
                       const std::atomic<bool>* cancel, const Logger& logger) {
  const auto start = std::chrono::steady_clock::now();
  BatchSummary summary;
  for (const BatchJob& job : jobs) {
    if (cancel && cancel->load()) throw InterruptedError("interrupted before item " + std::to_string(job.index));
    std::error_code ec;
    if (skip_existing && std::filesystem::exists(job.output, ec)) {
      logger.info("skipping '" + job.output.string() + "': it exists (--skip-existing)");
      ++summary.skipped;
      continue;
    }
    const std::string where = job.line > 0 ? "line " + std::to_string(job.line) + ": " : "";
    try {
      render(job);
      ++summary.ok;
    } catch (const InterruptedError&) {
      throw;
    } catch (const std::exception& e) {
      logger.error(where + e.what());
      ++summary.failed;
    }
  }
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace soragen::cli
