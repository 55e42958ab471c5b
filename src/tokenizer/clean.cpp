#include "tokenizer/clean.h"

#include <algorithm>
#include <string>

#include "tokenizer/unicode.h"

namespace soragen::tokenizer {
namespace {

struct HtmlEntity {
  std::string_view name;
  std::string_view value;  // UTF-8
};

struct CodepointMap {
  char32_t from;
  char32_t to;
};

// Tables generated from Python itself (gen_html_entities.py), so the
// behaviour follows the interpreter the reference runs on, not a retyping.
#include "tokenizer/html_entities.inc"

template <typename T, size_t N, typename Less>
constexpr bool is_sorted_table(const T (&table)[N], Less less) {
  for (size_t i = 1; i < N; ++i) {
    if (!less(table[i - 1], table[i])) return false;
  }
  return true;
}

// Binary searches below rely on the generator's sort order.
static_assert(is_sorted_table(kHtml5Entities,
                              [](const HtmlEntity& a, const HtmlEntity& b) { return a.name < b.name; }));
static_assert(is_sorted_table(kInvalidCharrefs,
                              [](CodepointMap a, CodepointMap b) { return a.from < b.from; }));
static_assert(is_sorted_table(kInvalidCodepoints, [](char32_t a, char32_t b) { return a < b; }));
static_assert(is_sorted_table(kPythonWhitespace, [](char32_t a, char32_t b) { return a < b; }));

// Past the last code point: big enough to mean "too large" in every check.
constexpr char32_t kTooLarge = 0x110000;

const HtmlEntity* find_entity(std::u32string_view name) {
  std::string ascii;
  for (const char32_t c : name) {
    if (c >= 0x80) return nullptr;  // every entity name is ASCII
    ascii.push_back(static_cast<char>(c));
  }
  const auto* end = std::end(kHtml5Entities);
  const auto* it = std::lower_bound(std::begin(kHtml5Entities), end, ascii,
                                    [](const HtmlEntity& e, const std::string& key) { return e.name < key; });
  return (it != end && it->name == ascii) ? it : nullptr;
}

bool is_digit(char32_t c, int base) {
  if (c >= U'0' && c <= U'9') return true;
  return base == 16 && ((c >= U'a' && c <= U'f') || (c >= U'A' && c <= U'F'));
}

int digit_value(char32_t c) {
  if (c <= U'9') return static_cast<int>(c - U'0');
  return static_cast<int>((c | 0x20) - U'a') + 10;
}

// html._replace_charref for a numeric reference.
void append_codepoint_reference(char32_t num, std::u32string& out) {
  const auto* remap_end = std::end(kInvalidCharrefs);
  const auto* remap = std::lower_bound(std::begin(kInvalidCharrefs), remap_end, num,
                                       [](CodepointMap m, char32_t key) { return m.from < key; });
  if (remap != remap_end && remap->from == num) {
    out.push_back(remap->to);
  } else if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) {
    out.push_back(U'\uFFFD');
  } else if (!std::binary_search(std::begin(kInvalidCodepoints), std::end(kInvalidCodepoints), num)) {
    out.push_back(num);
  }
}

// Matches html._charref's numeric alternatives, `#[0-9]+;?` then
// `#[xX][0-9a-fA-F]+;?`, at pos (just after '&'). Returns the characters
// consumed, 0 when neither matches.
size_t numeric_reference(std::u32string_view s, size_t pos, std::u32string& out) {
  size_t k = pos + 1;  // past '#'
  int base = 10;
  if (k + 1 < s.size() && (s[k] == U'x' || s[k] == U'X') && is_digit(s[k + 1], 16)) {
    base = 16;
    ++k;
  } else if (k >= s.size() || !is_digit(s[k], 10)) {
    return 0;
  }
  // Saturates rather than overflowing. (Python 3.11 raises ValueError past
  // 4300 decimal digits; such a number is far beyond U+10FFFF anyway.)
  char32_t num = 0;
  for (; k < s.size() && is_digit(s[k], base); ++k) {
    num = std::min<char32_t>(kTooLarge,
                             num * static_cast<char32_t>(base) + static_cast<char32_t>(digit_value(s[k])));
  }
  if (k < s.size() && s[k] == U';') ++k;
  append_codepoint_reference(num, out);
  return k - pos;
}

// The named alternative `[^\t\n\f <&#;]{1,32};?`, then the lookup of
// html._replace_charref: the whole name, else its longest prefix of at least
// two characters that is an entity (those are the ones HTML5 allows without
// ';'), keeping the rest as text.
size_t named_reference(std::u32string_view s, size_t pos, std::u32string& out) {
  constexpr std::u32string_view kStop = U"\t\n\f <&#;";
  size_t end = pos;
  while (end < s.size() && end - pos < 32 && kStop.find(s[end]) == std::u32string_view::npos) ++end;
  if (end == pos) return 0;
  if (end < s.size() && s[end] == U';') ++end;
  const std::u32string_view name = s.substr(pos, end - pos);
  if (const auto* entity = find_entity(name)) {
    out += utf8_decode(entity->value);
    return name.size();
  }
  for (size_t x = name.size() - 1; x >= 2 && x < name.size(); --x) {
    if (const auto* entity = find_entity(name.substr(0, x))) {
      out += utf8_decode(entity->value);
      out += name.substr(x);
      return name.size();
    }
  }
  return 0;  // Python writes back '&' + name: the same as not matching
}

}  // namespace

bool is_python_space(char32_t c) {
  return std::binary_search(std::begin(kPythonWhitespace), std::end(kPythonWhitespace), c);
}

std::u32string html_unescape(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] != U'&') {
      out.push_back(text[i++]);
      continue;
    }
    const size_t next = i + 1;
    size_t consumed = 0;
    if (next < text.size()) {
      consumed = text[next] == U'#' ? numeric_reference(text, next, out) : named_reference(text, next, out);
    }
    if (consumed == 0) {
      out.push_back(U'&');
      ++i;
    } else {
      i = next + consumed;
    }
  }
  return out;
}

std::string clean_prompt(std::string_view prompt) {
  // ftfy.fix_text would run first here in the reference (see clean.h).
  const std::u32string text = html_unescape(html_unescape(utf8_decode(prompt)));
  // strip(), re.sub(r"\s+", " "), strip() in one pass: a run of whitespace
  // becomes one space only when text follows it on both sides.
  std::u32string out;
  out.reserve(text.size());
  bool pending_space = false;
  for (const char32_t c : text) {
    if (is_python_space(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(U' ');
    pending_space = false;
    out.push_back(c);
  }
  return utf8_encode(out);
}

}  // namespace soragen::tokenizer
