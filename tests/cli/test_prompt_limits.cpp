// Prompt files that would cost unbounded memory: an endless line, an endless
// list of items. Each is refused with a line number.
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "cli/batch.h"
#include "soragen/error.h"

namespace soragen::cli {
namespace {

TEST(PromptFileLimits, AnOverlongLineIsAnErrorAndTheRestGoesOn) {
  std::istringstream in("a red ball\n" + std::string(kMaxPromptLineBytes + 1, 'x') + "\na blue cube\n");
  const PromptFile file = parse_prompt_file(in, GenerationRequest{});
  ASSERT_EQ(file.items.size(), 2u);
  EXPECT_EQ(file.items[1].line, 3);
  ASSERT_EQ(file.errors.size(), 1u);
  EXPECT_EQ(file.errors[0].line, 2);
  EXPECT_EQ(file.errors[0].message, "line is longer than 1048576 bytes");
}

TEST(PromptFileLimits, ALastLineWithoutNewlineCounts) {
  std::istringstream in("a red ball\n{\"prompt\": \"a cube\"}");
  EXPECT_EQ(parse_prompt_file(in, GenerationRequest{}).items.size(), 2u);
}

TEST(PromptFileLimits, TooManyItemsIsAUsageError) {
  std::string text;
  for (std::size_t i = 0; i <= kMaxPromptFileItems; ++i) text += "p\n";
  std::istringstream in(text);
  try {
    parse_prompt_file(in, GenerationRequest{});
    ADD_FAILURE() << "no error for " << kMaxPromptFileItems + 1 << " items";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()),
              "prompt file has more than 100000 items (line 100001); split it into smaller files");
  }
}

}  // namespace
}  // namespace soragen::cli
