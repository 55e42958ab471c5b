// Format choice, the whole-clip convenience call and error messages.
#include <gtest/gtest.h>

#include <cerrno>
#include <string>

extern "C" {
#include <libavutil/error.h>
}

#include "soragen/error.h"
#include "video/av_error.h"
#include "video/writer.h"
#include "video_test_util.h"

namespace soragen::video {
namespace {

namespace fs = std::filesystem;
using test::ScratchDir;

TEST(Writer, FormatForTarget) {
  ScratchDir dir;
  EXPECT_EQ(format_for("out/a.mp4"), OutputFormat::mp4);
  EXPECT_EQ(format_for("a"), OutputFormat::mp4);
  EXPECT_EQ(format_for("out/frames/"), OutputFormat::png);
  EXPECT_EQ(format_for(dir.path()), OutputFormat::png);  // an existing folder, no slash
  EXPECT_EQ(format_for("a.mp4", OutputFormat::png), OutputFormat::png);
  EXPECT_EQ(format_for("out/", OutputFormat::mp4), OutputFormat::mp4);
}

TEST(Writer, WriteVideoChecksTheFrameBuffer) {
  ScratchDir dir;
  VideoFrames short_buffer(16, 16, 2);
  short_buffer.rgb.resize(short_buffer.rgb.size() - 1);
  try {
    write_video(dir / "a.mp4", short_buffer, OutputFormat::mp4, {});
    FAIL() << "no OutputError";
  } catch (const OutputError& e) {
    EXPECT_EQ(std::string(e.what()),
              "output '" + (dir / "a.mp4").string() + "': frame buffer holds 1535 bytes, not 2 frames of 16x16 RGB");
  }
  EXPECT_THROW(write_video(dir / "a.mp4", VideoFrames(16, 16, 0), OutputFormat::mp4, {}), OutputError);
  EXPECT_THROW(write_video(dir / "p", VideoFrames(16, 16, 0), OutputFormat::png, {}), OutputError);
  EXPECT_TRUE(dir.entries().empty());
}

TEST(Writer, OpenSinkPicksTheWriter) {
  ScratchDir dir;
  const VideoFrames clip = test::synthetic_clip(16, 16, 1);
  for (OutputFormat format : {OutputFormat::mp4, OutputFormat::png}) {
    const fs::path target = dir / (format == OutputFormat::mp4 ? "v.mp4" : "frames");
    auto sink = open_sink(target, 16, 16, format, {});
    sink->write(clip.frame(0));
    sink->commit();
    EXPECT_EQ(fs::is_directory(target), format == OutputFormat::png);
  }
}

TEST(AvError, MessagesAreReadable) {
  EXPECT_EQ(av_error_string(AVERROR(ENOSPC)), "No space left on device");
  EXPECT_EQ(av_error_string(AVERROR_EOF), "End of file");
  EXPECT_FALSE(av_error_string(-123456789).empty());
  try {
    check_av(AVERROR(EACCES), "out/a.mp4", "cannot open for writing");
    FAIL() << "no OutputError";
  } catch (const OutputError& e) {
    EXPECT_EQ(std::string(e.what()), "output 'out/a.mp4': cannot open for writing: Permission denied");
    EXPECT_EQ(e.exit_code(), ExitCode::output);
  }
  EXPECT_EQ(check_av(7, "x", "y"), 7);
}

}  // namespace
}  // namespace soragen::video
