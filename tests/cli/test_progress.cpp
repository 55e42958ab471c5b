#include <gtest/gtest.h>

#include <sstream>

#include "cli/progress.h"

namespace soragen::cli {
namespace {

TEST(Progress, DurationFormat) {
  EXPECT_EQ(format_duration(9.4), "0:09");
  EXPECT_EQ(format_duration(247), "4:07");
  EXPECT_EQ(format_duration(3723), "1:02:03");
  EXPECT_EQ(format_duration(-1), "0:00");
}

TEST(Progress, BarShowsStepRateAndEta) {
  EXPECT_EQ(ProgressReporter::format_bar("denoising", 5, 10, 1.5, 7.5, 10),
            "denoising     [#####.....] 5/10  1.50 s/it  ETA 0:08");
}

TEST(Progress, TerminalModeRedrawsOneLine) {
  std::ostringstream terminal;
  double now = 0;
  ProgressReporter progress(ProgressMode::bar, terminal, Logger(), [&] { return now; });
  progress({Stage::denoise, 0, 4});
  for (int step = 1; step <= 4; ++step) {
    now += 2;
    progress({Stage::denoise, step, 4});
  }
  const std::string out = terminal.str();
  EXPECT_EQ(std::count(out.begin(), out.end(), '\r'), 4);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1);  // only when the stage ends
  EXPECT_NE(out.find("2/4  2.00 s/it  ETA 0:04"), std::string::npos) << out;
  EXPECT_EQ(progress.timings(), "denoising 8.0 s");
}

TEST(Progress, PipeModeLogsOneLinePerStep) {
  std::ostringstream terminal;
  std::vector<std::string> lines;
  const Logger logger([&](LogLevel, const std::string& m) { lines.push_back(m); });
  double now = 0;
  ProgressReporter progress(ProgressMode::lines, terminal, logger, [&] { return now; });
  progress({Stage::encode_text, 0, 1});
  now = 0.5;
  progress({Stage::encode_text, 1, 1});
  progress({Stage::denoise, 0, 3});
  for (int step = 1; step <= 3; ++step) {
    now += 1;
    progress({Stage::denoise, step, 3});
  }
  EXPECT_TRUE(terminal.str().empty());
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "text encoding done in 0.5 s");
  EXPECT_EQ(lines[1], "denoising step 1/3 (1.00 s/it, ETA 0:02)");
  EXPECT_EQ(progress.timings(), "text encoding 0.5 s, denoising 3.0 s");
}

TEST(Progress, QuietModePrintsNothing) {
  std::ostringstream terminal;
  int logged = 0;
  const Logger logger([&](LogLevel, const std::string&) { ++logged; });
  ProgressReporter progress(ProgressMode::quiet, terminal, logger);
  progress({Stage::denoise, 0, 2});
  progress({Stage::denoise, 1, 2});
  progress({Stage::denoise, 2, 2});
  EXPECT_TRUE(terminal.str().empty());
  EXPECT_EQ(logged, 0);
}

}  // namespace
}  // namespace soragen::cli
