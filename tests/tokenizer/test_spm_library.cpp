// The sentencepiece shim and its loader. Expected ids were made once with
// Debian's python3-sentencepiece 0.1.97 on the same model:
//   /usr/bin/python3 -c "import sentencepiece as s;
//     print(s.SentencePieceProcessor(model_file='tests/data/spm/tiny.model').encode(TEXT))"
// (one command line; TEXT is the literal the test encodes).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "soragen/error.h"
#include "tokenizer/spm_library.h"
#include "tokenizer/tokenizer_test_util.h"

namespace soragen::tokenizer {
namespace {

using testing::ScopedEnv;
using testing::tiny_model_path;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(SpmLibrary, LoadsAndMatchesPythonSentencepiece) {
  const SpmModel model = SpmModel::load(tiny_model_path());
  EXPECT_EQ(model.encode("A cat walks on the grass, realistic style."),
            (std::vector<int32_t>{9,   50, 11, 94, 18, 32, 6, 3,  13, 17,  8,  43,
                                  220, 6,  5,  23, 18, 54, 6, 91, 3,  209, 38, 7}));
  // 一只猫在草地上行走，写实风格。
  EXPECT_EQ(
      model.encode("\xE4\xB8\x80\xE5\x8F\xAA\xE7\x8C\xAB\xE5\x9C\xA8\xE8\x8D\x89\xE5\x9C\xB0\xE4\xB8\x8A"
                   "\xE8\xA1\x8C\xE8\xB5\xB0\xEF\xBC\x8C\xE5\x86\x99\xE5\xAE\x9E\xE9\xA3\x8E\xE6\xA0\xBC"
                   "\xE3\x80\x82"),
      (std::vector<int32_t>{77, 237, 147, 110, 291, 24, 341, 123, 5, 285, 295, 102, 10}));
  EXPECT_TRUE(model.encode("").empty());
}

TEST(SpmLibrary, AppliesTheModelsNormalisation) {
  const SpmModel model = SpmModel::load(tiny_model_path());
  // Full-width "ＡＢＣ" and the ideographic space fold to ASCII (train.sh's rules).
  EXPECT_EQ(model.encode("\xEF\xBC\xA1\xEF\xBC\xA2\xEF\xBC\xA3\xE3\x80\x80"
                         "cat"),
            (std::vector<int32_t>{9, 396, 395, 50, 11}));
}

TEST(SpmLibrary, UnknownCharactersGiveTheUnknownId) {
  const SpmModel model = SpmModel::load(tiny_model_path());
  // 猫 zebra 鲸: 鲸 is not in the training corpus.
  EXPECT_EQ(model.encode("\xE7\x8C\xAB zebra \xE9\xB2\xB8"),
            (std::vector<int32_t>{3, 236, 3, 2, 8, 215, 195, 3, 2}));
}

TEST(SpmLibrary, VocabularyAndSpecialIdsAreT5Like) {
  const SpmModel model = SpmModel::load(tiny_model_path());
  EXPECT_EQ(model.vocab_size(), 400);
  EXPECT_EQ(model.pad_id(), 0);
  EXPECT_EQ(model.eos_id(), 1);
  EXPECT_EQ(model.unk_id(), 2);
  EXPECT_EQ(model.id_to_piece(1), "</s>");
  EXPECT_EQ(model.id_to_piece(9),
            "\xE2\x96\x81"
            "A");  // ▁A
  EXPECT_EQ(model.piece_to_id("\xE2\x96\x81"
                              "A"),
            9);
  EXPECT_EQ(model.piece_to_id("not-a-piece"), model.unk_id());
  EXPECT_THROW(model.id_to_piece(400), UsageError);
  EXPECT_THROW(model.id_to_piece(-1), UsageError);
}

TEST(SpmLibrary, FindsTheShimBesideTheExecutable) {
  ScopedEnv env("SORAGEN_SPM_SHIM", std::nullopt);
  const auto candidates = spm_shim_candidates();
  ASSERT_EQ(candidates.size(), 2u);
  EXPECT_TRUE(std::filesystem::equivalent(candidates[0].parent_path(), SORAGEN_BUILD_DIR));
  const SpmModel model = SpmModel::load(tiny_model_path());
  EXPECT_EQ(model.shim_path(), candidates[0]);
}

TEST(SpmLibrary, EnvironmentOverridesTheShimPath) {
  ScopedEnv unset("SORAGEN_SPM_SHIM", std::nullopt);
  const auto beside = find_spm_shim();
  ScopedEnv env("SORAGEN_SPM_SHIM", beside.string());
  EXPECT_EQ(spm_shim_candidates(), std::vector<std::filesystem::path>{beside});
  EXPECT_EQ(SpmModel::load(tiny_model_path()).shim_path(), beside);
}

TEST(SpmLibrary, MissingShimIsAModelErrorSayingWhereItLooked) {
  const std::string missing = "/nonexistent/soragen/libsoragen_spm.so";
  ScopedEnv env("SORAGEN_SPM_SHIM", missing);
  try {
    SpmModel::load(tiny_model_path());
    FAIL() << "loaded without a shim";
  } catch (const ModelError& e) {
    EXPECT_TRUE(contains(e.what(), missing)) << e.what();
    EXPECT_TRUE(contains(e.what(), "SORAGEN_SPM_SHIM")) << e.what();
  }
}

TEST(SpmLibrary, ShimThatIsNotALibraryIsAModelError) {
  // Any existing non-ELF file will do: the model itself.
  ScopedEnv env("SORAGEN_SPM_SHIM", tiny_model_path().string());
  try {
    SpmModel::load(tiny_model_path());
    FAIL() << "dlopen()ed a non-library";
  } catch (const ModelError& e) {
    EXPECT_TRUE(contains(e.what(), "cannot be loaded")) << e.what();
  }
}

TEST(SpmLibrary, MissingModelIsAModelErrorNamingThePath) {
  const auto missing = std::filesystem::path(::testing::TempDir()) / "no-such-spiece.model";
  try {
    SpmModel::load(missing);
    FAIL() << "loaded a missing model";
  } catch (const ModelError& e) {
    EXPECT_TRUE(contains(e.what(), missing.string())) << e.what();
    EXPECT_TRUE(contains(e.what(), "does not exist")) << e.what();
  }
}

TEST(SpmLibrary, CorruptModelsAreModelErrorsNamingThePath) {
  const std::string model_bytes = testing::read_file(tiny_model_path());
  ASSERT_GT(model_bytes.size(), 1000u);
  for (const auto& path :
       {testing::write_scratch_file("garbage.model", "this is not a sentencepiece model\n"),
        testing::write_scratch_file("truncated.model", model_bytes.substr(0, model_bytes.size() / 2)),
        testing::write_scratch_file("empty.model", "")}) {
    try {
      SpmModel::load(path);
      ADD_FAILURE() << "loaded " << path;
    } catch (const ModelError& e) {
      EXPECT_TRUE(contains(e.what(), path.string())) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "not one line: " << e.what();
    }
  }
  EXPECT_THROW(SpmModel::load(::testing::TempDir()), ModelError);  // a directory
}

TEST(SpmLibrary, ModelsCanBeMovedAndOutliveEachOther) {
  SpmModel first = SpmModel::load(tiny_model_path());
  SpmModel second = SpmModel::load(tiny_model_path());
  SpmModel moved = std::move(first);
  second = std::move(moved);
  EXPECT_EQ(second.encode("A cat"), (std::vector<int32_t>{9, 50, 11}));
}

}  // namespace
}  // namespace soragen::tokenizer
