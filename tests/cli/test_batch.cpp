#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "cli/batch.h"
#include "soragen/error.h"
#include "test_util.h"

namespace soragen::cli {
namespace {

PromptFile parse(const std::string& text, GenerationRequest base = {}) {
  std::istringstream in(text);
  return parse_prompt_file(in, base);
}

TEST(PromptFile, PlainLinesSkipBlanksAndComments) {
  const PromptFile file = parse("# a comment\n\na red ball\r\n   \n  a blue cube  \n");
  ASSERT_EQ(file.items.size(), 2u);
  EXPECT_TRUE(file.errors.empty());
  EXPECT_EQ(file.items[0].request.prompt, "a red ball");
  EXPECT_EQ(file.items[0].line, 3);
  EXPECT_EQ(file.items[1].request.prompt, "a blue cube");
  EXPECT_EQ(file.items[1].line, 5);
}

TEST(PromptFile, JsonLinesOverrideTheCommandLine) {
  GenerationRequest base;
  base.steps = 10;
  base.seed = 1;
  const PromptFile file = parse(
      R"({"prompt": "a cat", "seed": 7, "frames": 17, "width": 64, "height": 48, "output": "cat.mp4"})"
      "\n"
      R"({"prompt": "a dog", "guidance": 3.5, "sampler": "euler", "negative_prompt": "blur"})",
      base);
  ASSERT_EQ(file.items.size(), 2u) << (file.errors.empty() ? "" : file.errors[0].message);
  const auto& cat = file.items[0];
  EXPECT_EQ(cat.request.prompt, "a cat");
  EXPECT_EQ(*cat.request.seed, 7u);
  EXPECT_EQ(*cat.request.frames, 17);
  EXPECT_EQ(*cat.request.height, 48);
  EXPECT_EQ(*cat.request.steps, 10);  // from the command line
  EXPECT_EQ(*cat.output, "cat.mp4");
  const auto& dog = file.items[1];
  EXPECT_EQ(*dog.request.seed, 1u);
  EXPECT_DOUBLE_EQ(*dog.request.guidance, 3.5);
  EXPECT_EQ(*dog.request.sampler, "euler");
  EXPECT_EQ(*dog.request.negative_prompt, "blur");
  EXPECT_FALSE(dog.output.has_value());
}

TEST(PromptFile, JsonLinesCarryImagesAndTheHighNoiseGuidance) {
  GenerationRequest base;
  base.image = "base.png";
  const PromptFile file = parse(
      "{\"prompt\": \"a cat wakes\", \"image\": \"cat.jpg\", \"last_image\": \"cat-awake.jpg\", "
      "\"guidance_high\": 4.5}\n"
      "{\"prompt\": \"a dog runs\"}\n"
      "{\"prompt\": \"a bird\", \"image\": 3}\n",
      base);
  ASSERT_EQ(file.items.size(), 2u);
  EXPECT_EQ(file.items[0].request.image, "cat.jpg");
  EXPECT_EQ(file.items[0].request.last_image, "cat-awake.jpg");
  EXPECT_EQ(file.items[0].request.guidance_high, 4.5);
  EXPECT_EQ(file.items[1].request.image, "base.png") << "the command line's --image is the default";
  ASSERT_EQ(file.errors.size(), 1u);
  EXPECT_EQ(file.errors[0].line, 3);
  EXPECT_NE(file.errors[0].message.find("image"), std::string::npos) << file.errors[0].message;
}

TEST(PromptFile, BadLinesAreReportedWithLineNumbersAndTheRestGoesOn) {
  const PromptFile file = parse(
      "a good one\n"
      "{\"prompt\": \"broken\"\n"                       // 2: bad JSON
      "{\"prompt\": \"x\", \"frames\": 20}\n"           // 3: impossible frames
      "{\"seed\": 3}\n"                                 // 4: no prompt
      "{\"prompt\": \"x\", \"colour\": \"red\"}\n"      // 5: unknown key
      "{\"prompt\": \"x\", \"seed\": -1}\n"             // 6: negative seed
      "{\"prompt\": \"x\", \"width\": \"64\"}\n"        // 7: wrong type
      "[1, 2]\n"                                        // 8: plain prompt (starts with '[')
      "{\"prompt\": \"  \"}\n"                          // 9: empty prompt
      "{\"prompt\": \"ok\", \"width\": 96}\n");         // 10: good
  ASSERT_EQ(file.items.size(), 3u);
  EXPECT_EQ(file.items[0].line, 1);
  EXPECT_EQ(file.items[1].line, 8);
  EXPECT_EQ(file.items[2].line, 10);
  ASSERT_EQ(file.errors.size(), 7u);
  const int expected_lines[] = {2, 3, 4, 5, 6, 7, 9};
  for (std::size_t i = 0; i < file.errors.size(); ++i) EXPECT_EQ(file.errors[i].line, expected_lines[i]);
  EXPECT_EQ(file.errors[0].message, "not valid JSON");
  EXPECT_NE(file.errors[1].message.find("--frames 20"), std::string::npos);
  EXPECT_EQ(file.errors[2].message, "missing \"prompt\"");
  EXPECT_EQ(file.errors[3].message, "unknown key \"colour\"");
  EXPECT_EQ(file.errors[4].message, "\"seed\" is out of range");
  EXPECT_EQ(file.errors[5].message, "\"width\" must be a number");
}

TEST(PromptFile, BinaryContentIsAnError) {
  const PromptFile file = parse(std::string("ok\n\xff\xfe garbage\nalso \0 nul\n", 25));
  ASSERT_EQ(file.items.size(), 1u);
  ASSERT_EQ(file.errors.size(), 2u);
  EXPECT_EQ(file.errors[0].line, 2);
  EXPECT_EQ(file.errors[0].message, "not valid UTF-8 text");
}

TEST(PromptFile, ChinesePromptsAreKept) {
  const PromptFile file = parse("\xEF\xBB\xBF一只红色的球\n");
  ASSERT_EQ(file.items.size(), 1u);
  EXPECT_EQ(file.items[0].request.prompt, "一只红色的球");
}

TEST(PromptFile, MissingFileNamesIt) {
  try {
    read_prompt_file("/nonexistent/prompts.txt", {});
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()), "--prompt-file '/nonexistent/prompts.txt': cannot be read (missing or no permission)");
  }
  EXPECT_THROW(read_prompt_file("/tmp", {}), UsageError);
}

TEST(OutputPattern, Placeholders) {
  EXPECT_EQ(slugify("A Red ball, bouncing!  (fast)"), "a-red-ball-bouncing-fast");
  EXPECT_EQ(slugify("一只猫"), "video");
  EXPECT_EQ(slugify(std::string(100, 'a')).size(), 48u);
  EXPECT_EQ(expand_output_pattern("out/{index:04}-{slug}.mp4", 7, 12, "A cat", 99), "out/0007-a-cat.mp4");
  EXPECT_EQ(expand_output_pattern("{index}_{line}_{seed}.mp4", 3, 5, "x", 42), "3_5_42.mp4");
  EXPECT_EQ(expand_output_pattern("plain.mp4", 3, 5, "x", 42), "plain.mp4");
  EXPECT_THROW(expand_output_pattern("{name}.mp4", 1, 1, "x", 1), UsageError);
  EXPECT_THROW(expand_output_pattern("{index.mp4", 1, 1, "x", 1), UsageError);
  EXPECT_TRUE(pattern_names_items("a/{index}.mp4"));
  EXPECT_TRUE(pattern_names_items("{slug}.mp4"));
  EXPECT_FALSE(pattern_names_items("{seed}.mp4"));
}

TEST(RunBatch, FailuresAreCountedAndTheBatchGoesOn) {
  test::TempDir dir;
  std::vector<BatchJob> jobs;
  for (int i = 1; i <= 5; ++i) jobs.push_back({i, i * 2, {}, dir / ("item" + std::to_string(i) + ".txt")});
  std::vector<std::string> messages;
  const Logger logger([&](LogLevel, const std::string& m) { messages.push_back(m); }, LogLevel::debug);
  int calls = 0;
  const RenderJob render = [&](const BatchJob& job) {
    ++calls;
    if (job.index == 2) throw OutputError("output 'x': disk full");
    if (job.index == 4) throw std::runtime_error("boom");
    std::ofstream(job.output) << "video";
  };
  BatchSummary summary = run_batch(jobs, false, render, nullptr, logger);
  EXPECT_EQ(summary.ok, 3);
  EXPECT_EQ(summary.failed, 2);
  EXPECT_EQ(summary.skipped, 0);
  EXPECT_EQ(calls, 5);
  EXPECT_NE(std::find(messages.begin(), messages.end(), "line 4: output 'x': disk full"), messages.end());
  EXPECT_NE(std::find(messages.begin(), messages.end(), "line 8: boom"), messages.end());

  // A rerun with --skip-existing renders only the two that failed.
  calls = 0;
  summary = run_batch(jobs, true, render, nullptr, logger);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(summary.skipped, 3);
  EXPECT_EQ(summary.failed, 2);
}

TEST(RunBatch, InterruptStopsTheBatch) {
  test::TempDir dir;
  std::vector<BatchJob> jobs;
  for (int i = 1; i <= 3; ++i) jobs.push_back({i, i, {}, dir / ("v" + std::to_string(i))});
  std::atomic<bool> stop{false};
  int calls = 0;
  const RenderJob render = [&](const BatchJob&) {
    ++calls;
    stop = true;  // as if Ctrl-C arrived during the first item
  };
  EXPECT_THROW(run_batch(jobs, false, render, &stop, Logger()), InterruptedError);
  EXPECT_EQ(calls, 1);
  const RenderJob interrupted = [&](const BatchJob&) { throw InterruptedError("stopped"); };
  stop = false;
  EXPECT_THROW(run_batch(jobs, false, interrupted, &stop, Logger()), InterruptedError);
}

}  // namespace
}  // namespace soragen::cli
