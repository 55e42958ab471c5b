// Tokenizer: the Wan2.1 reference's ids, mask and lengths. Piece ids were
// made with python3-sentencepiece on tests/data/spm/tiny.model (see
// test_spm_library.cpp); </s> = 1 and padding = 0 as in T5.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "soragen/error.h"
#include "soragen/log.h"
#include "tokenizer/tokenizer_test_util.h"
#include "tokenizer/tokenizer.h"

namespace soragen::tokenizer {
namespace {

using testing::tiny_model_path;

constexpr const char* kLongPrompt = "A cat walks on the grass, realistic style.";
const std::vector<int64_t> kLongPieces = {9,   50, 11, 94, 18, 32, 6, 3,  13, 17,  8,  43,
                                          220, 6,  5,  23, 18, 54, 6, 91, 3,  209, 38, 7};

// Collects what the tokenizer logs.
struct CapturedLog {
  std::vector<std::pair<LogLevel, std::string>> lines;
  Logger logger() {
    return Logger([this](LogLevel level, const std::string& message) { lines.emplace_back(level, message); },
                  LogLevel::debug);
  }
  int warnings() const {
    int n = 0;
    for (const auto& line : lines) n += line.first == LogLevel::warning;
    return n;
  }
};

TEST(Tokenizer, PadsToTextLenAndMasksThePadding) {
  const Tokenizer tok = Tokenizer::load(tiny_model_path(), 8, Logger());
  EXPECT_EQ(tok.text_len(), 8);
  EXPECT_EQ(tok.vocab_size(), 400);
  const Tokenized t = tok.encode("A cat");
  EXPECT_EQ(t.ids, (std::vector<int64_t>{9, 50, 11, 1, 0, 0, 0, 0}));
  EXPECT_EQ(t.mask, (std::vector<int64_t>{1, 1, 1, 1, 0, 0, 0, 0}));
  EXPECT_EQ(t.length, 4);
  EXPECT_EQ(t.dropped, 0);
}

TEST(Tokenizer, CleansBeforeEncoding) {
  const Tokenizer tok = Tokenizer::load(tiny_model_path(), 8, Logger());
  EXPECT_EQ(tok.encode("  A&amp;nbsp;\tcat \n").ids, tok.encode("A cat").ids);
}

TEST(Tokenizer, EncodesChinese) {
  const Tokenizer tok = Tokenizer::load(tiny_model_path(), 16, Logger());
  // 一只猫在草地上行走，写实风格。
  const Tokenized t = tok.encode(
      "\xE4\xB8\x80\xE5\x8F\xAA\xE7\x8C\xAB\xE5\x9C\xA8\xE8\x8D\x89\xE5\x9C\xB0"
      "\xE4\xB8\x8A\xE8\xA1\x8C\xE8\xB5\xB0\xEF\xBC\x8C\xE5\x86\x99\xE5\xAE\x9E"
      "\xE9\xA3\x8E\xE6\xA0\xBC\xE3\x80\x82");
  EXPECT_EQ(t.ids,
            (std::vector<int64_t>{77, 237, 147, 110, 291, 24, 341, 123, 5, 285, 295, 102, 10, 1, 0, 0}));
  EXPECT_EQ(t.length, 14);
}

TEST(Tokenizer, TruncatesKeepingEosLastAndWarns) {
  CapturedLog log;
  const Tokenizer tok = Tokenizer::load(tiny_model_path(), 10, log.logger());
  const Tokenized t = tok.encode(kLongPrompt);
  std::vector<int64_t> expected(kLongPieces.begin(), kLongPieces.begin() + 9);
  expected.push_back(1);
  EXPECT_EQ(t.ids, expected);
  EXPECT_EQ(t.mask, std::vector<int64_t>(10, 1));
  EXPECT_EQ(t.length, 10);
  EXPECT_EQ(t.dropped, 24 - 9);
  ASSERT_EQ(log.warnings(), 1);
  for (const auto& [level, message] : log.lines) {
    if (level == LogLevel::warning) {
      EXPECT_NE(message.find("dropped the last 15 tokens"), std::string::npos) << message;
    }
  }
}

TEST(Tokenizer, TruncationBoundary) {
  CapturedLog log;
  // 24 pieces + </s> fit exactly in 25.
  const Tokenized fits = Tokenizer::load(tiny_model_path(), 25, log.logger()).encode(kLongPrompt);
  EXPECT_EQ(fits.dropped, 0);
  EXPECT_EQ(fits.length, 25);
  EXPECT_EQ(fits.ids.back(), 1);
  EXPECT_EQ(log.warnings(), 0);

  const Tokenized one_short = Tokenizer::load(tiny_model_path(), 24, log.logger()).encode(kLongPrompt);
  EXPECT_EQ(one_short.dropped, 1);
  EXPECT_EQ(one_short.ids.back(), 1);
  EXPECT_EQ(one_short.ids[22], kLongPieces[22]);
  EXPECT_EQ(log.warnings(), 1);

  const Tokenized only_eos = Tokenizer::load(tiny_model_path(), 1, Logger()).encode(kLongPrompt);
  EXPECT_EQ(only_eos.ids, std::vector<int64_t>{1});
  EXPECT_EQ(only_eos.dropped, 24);
}

TEST(Tokenizer, PromptEmptyAfterCleaningIsAUsageError) {
  const Tokenizer tok = Tokenizer::load(tiny_model_path(), 8, Logger());
  for (const std::string prompt : {"", "   ", "\t\n\r", "&nbsp;", "&amp;nbsp; &#10;", "\xE3\x80\x80"}) {
    try {
      tok.encode(prompt);
      ADD_FAILURE() << "accepted an empty prompt of " << prompt.size() << " bytes";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("prompt is empty"), std::string::npos) << e.what();
    }
  }
}

TEST(Tokenizer, MalformedUtf8IsAUsageError) {
  const Tokenizer tok = Tokenizer::load(tiny_model_path(), 8, Logger());
  EXPECT_THROW(tok.encode("cat \xFF"), UsageError);
}

TEST(Tokenizer, TextLenMustLeaveRoomForEos) {
  EXPECT_THROW(Tokenizer::load(tiny_model_path(), 0, Logger()), UsageError);
  EXPECT_THROW(Tokenizer::load(tiny_model_path(), -5, Logger()), UsageError);
}

TEST(Tokenizer, BadModelFilesAreModelErrors) {
  const auto missing = std::filesystem::path(::testing::TempDir()) / "missing-spiece.model";
  try {
    Tokenizer::load(missing, 8, Logger());
    FAIL() << "loaded a missing model";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find(missing.string()), std::string::npos) << e.what();
  }
  const auto corrupt = testing::write_scratch_file("corrupt.model", std::string(300, '\x07'));
  try {
    Tokenizer::load(corrupt, 8, Logger());
    FAIL() << "loaded a corrupt model";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find(corrupt.string()), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace soragen::tokenizer
