// Prompt cleaning as the Wan2.1 reference does it before tokenizing
// (wan/modules/tokenizers.py, HuggingfaceTokenizer with clean='whitespace'):
//   whitespace_clean(basic_clean(text)), i.e.
//   ftfy.fix_text -> html.unescape twice -> strip -> re.sub(r"\s+", " ") -> strip
#pragma once

#include <string>
#include <string_view>

namespace soragen::tokenizer {

// The whole cleaning step on UTF-8 text. ftfy.fix_text is not reproduced (no
// C++ port can be shipped); it repairs mojibake and leaves well-formed text
// as it is, so only already-broken prompts can come out differently.
// UsageError when the prompt is not valid UTF-8.
std::string clean_prompt(std::string_view prompt);

// Python's html.unescape: HTML5 named references (longest-prefix match for
// those allowed without ';'), decimal and hex references with the standard's
// replacements for invalid code points.
std::u32string html_unescape(std::u32string_view text);

// Python's str.isspace(), which is also what re's \s matches in a str.
bool is_python_space(char32_t c);

}  // namespace soragen::tokenizer
