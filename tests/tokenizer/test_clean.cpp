// Expected strings come from the reference cleaning run by Python 3.11
// (/usr/bin/python3): re.sub(r"\s+", " ", html.unescape(html.unescape(s)).strip()).strip()
// (wan/modules/tokenizers.py without ftfy, which leaves these inputs alone).
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "soragen/error.h"
#include "tokenizer/clean.h"
#include "tokenizer/unicode.h"

namespace soragen::tokenizer {
namespace {

TEST(CleanPrompt, UnescapesTwiceLikeTheReference) {
  EXPECT_EQ(clean_prompt("&amp;amp;"), "&");
  EXPECT_EQ(clean_prompt("&amp;lt;&amp;#39;"), "<'");
  EXPECT_EQ(clean_prompt("&amp;&#x26;lt;"), "&<");
}

TEST(CleanPrompt, NamedAndNumericReferences) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"a &lt;b&gt; c", "a <b> c"},
      {"it&#39;s", "it's"},
      {"&#x4e2d;&#X6587;", "\xE4\xB8\xAD\xE6\x96\x87"},  // 中文
      {"&#x1F600;", "\xF0\x9F\x98\x80"},
      {"&#0000000000000000000065;", "A"},
      {"&#65", "A"},  // ';' is optional
      {"caf&eacute; &copy2024",
       "caf\xC3\xA9 \xC2\xA9"
       "2024"},                           // legacy names need no ';'
      {"&acE;", "\xE2\x88\xBE\xCC\xB3"},  // a two-code-point entity
      {"&AMP", "&"},
      {"&amp", "&"},
      {"&&amp;", "&&"},
  };
  for (const auto& [input, expected] : cases) EXPECT_EQ(clean_prompt(input), expected) << input;
}

TEST(CleanPrompt, LongestPrefixMatchForNamesWithoutSemicolon) {
  EXPECT_EQ(clean_prompt("&ampx;"), "&x;");
  EXPECT_EQ(clean_prompt("&notit;"), "\xC2\xACit;");   // ¬it;
  EXPECT_EQ(clean_prompt("&notin;"), "\xE2\x88\x89");  // ∉ wins over &not
}

TEST(CleanPrompt, InvalidNumericReferencesFollowHtml5) {
  EXPECT_EQ(clean_prompt("&#0;"), "\xEF\xBF\xBD");        // U+FFFD
  EXPECT_EQ(clean_prompt("&#128;"), "\xE2\x82\xAC");      // windows-1252 euro
  EXPECT_EQ(clean_prompt("&#xD800;"), "\xEF\xBF\xBD");    // surrogate
  EXPECT_EQ(clean_prompt("&#x110000;"), "\xEF\xBF\xBD");  // past Unicode
  EXPECT_EQ(clean_prompt("&#99999999999999999999999;"), "\xEF\xBF\xBD");
  EXPECT_EQ(clean_prompt("&#1;x"), "x");    // control: dropped
  EXPECT_EQ(clean_prompt("&#xfffe;"), "");  // noncharacter: dropped
}

TEST(CleanPrompt, LeavesNonReferencesAlone) {
  for (const std::string text : {"&#x;", "&#;", "& amp;", "&;", "&Amp;", "AT&T", "a & b"}) {
    EXPECT_EQ(clean_prompt(text), text);
  }
  const std::string long_name = "&" + std::string(40, 'a') + ";";
  EXPECT_EQ(clean_prompt(long_name), long_name);
}

TEST(CleanPrompt, CollapsesUnicodeWhitespace) {
  EXPECT_EQ(clean_prompt("\t a\n\n b\xC2\xA0\xE3\x80\x80"
                         "c \r\n"),
            "a b c");  // NBSP, ideographic space
  EXPECT_EQ(clean_prompt("&nbsp;x&nbsp;"), "x");
  EXPECT_EQ(clean_prompt("&#32;&#9;"), "");
  EXPECT_EQ(clean_prompt("&NewLine;"), "");
  EXPECT_EQ(clean_prompt("\xC2\x85x\x1C"), "x");  // NEL and the separators are \s in Python
  EXPECT_EQ(clean_prompt("a\xE2\x80\xA8\xE2\x80\xA9z"), "a z");
}

TEST(CleanPrompt, ZeroWidthSpaceIsNotWhitespace) {
  EXPECT_EQ(clean_prompt("\xE2\x80\x8Bx"), "\xE2\x80\x8Bx");
  EXPECT_FALSE(is_python_space(U'\u200B'));
  EXPECT_TRUE(is_python_space(U'\u3000'));
  EXPECT_TRUE(is_python_space(U'\v'));
}

TEST(CleanPrompt, PlainTextIsUnchanged) {
  const std::string chinese = "\xE4\xB8\x80\xE5\x8F\xAA\xE7\x8C\xAB";  // 一只猫
  EXPECT_EQ(clean_prompt(chinese), chinese);
  EXPECT_EQ(clean_prompt("A cat walks on the grass."), "A cat walks on the grass.");
}

TEST(CleanPrompt, RejectsMalformedUtf8) {
  for (const std::string bad :
       {"\x80", "ab\xFF", "\xC0\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80", "x\xE4\xB8"}) {
    try {
      clean_prompt(bad);
      ADD_FAILURE() << "accepted malformed UTF-8 of " << bad.size() << " bytes";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("UTF-8"), std::string::npos) << e.what();
    }
  }
}

TEST(Unicode, RoundTripsEveryEncodedLength) {
  const std::u32string text = U"a\u00E9\u4E2D\U0001F600";
  const std::string utf8 = utf8_encode(text);
  EXPECT_EQ(utf8.size(), 1u + 2u + 3u + 4u);
  EXPECT_EQ(utf8_decode(utf8), text);
}

}  // namespace
}  // namespace soragen::tokenizer
