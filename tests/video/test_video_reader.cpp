// Reading clips (--video, --extend, --connect): MP4 as soragen writes it,
// WebM and MOV as FFmpeg writes them, the first or last frames kept, and one
// clear error for each kind of bad file.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "soragen/error.h"
#include "test_util.h"
#include "video/video_reader.h"
#include "video/writer.h"
#include "video_test_util.h"

namespace soragen::video {
namespace {

namespace fs = std::filesystem;

std::string usage_error(const fs::path& path, const VideoReadOptions& options = {}) {
  try {
    read_video(path, "--video", options);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "<no error>";
}

// Mean absolute difference between a frame read back and the one written.
double frame_error(const VideoFrames& written, int index, const RgbImage& read) {
  double total = 0;
  const std::uint8_t* expected = written.frame(index);
  for (std::size_t i = 0; i < read.pixels.size(); ++i) total += std::abs(expected[i] - read.pixels[i]);
  return total / static_cast<double>(read.pixels.size());
}

class VideoReader : public ::testing::Test {
 protected:
  void SetUp() override {
    clip_ = test::synthetic_clip(64, 48, 13);
    WriteOptions options;
    options.fps = 8;
    write_video(dir_ / "clip.mp4", clip_, OutputFormat::mp4, options);
  }
  test::ScratchDir dir_;
  VideoFrames clip_;
};

TEST_F(VideoReader, ReadsEveryFrameOfAnMp4InOrder) {
  const RgbVideo video = read_video(dir_ / "clip.mp4", "--video");
  EXPECT_EQ(video.width, 64);
  EXPECT_EQ(video.height, 48);
  EXPECT_DOUBLE_EQ(video.fps, 8.0);
  EXPECT_EQ(video.total_frames, 13);
  ASSERT_EQ(video.frames.size(), 13u);
  for (int i = 0; i < 13; ++i) {
    // x264 at crf 18 with 4:2:0 chroma: a few levels on hard edges.
    EXPECT_LT(frame_error(clip_, i, video.frames[i]), 4.0) << "frame " << i;
  }
  // In order: each frame is closer to its own source than to the next one.
  EXPECT_LT(frame_error(clip_, 5, video.frames[5]), frame_error(clip_, 6, video.frames[5]));
}

TEST_F(VideoReader, KeepsTheFirstOrTheLastFrames) {
  VideoReadOptions first;
  first.max_frames = 4;
  const RgbVideo head = read_video(dir_ / "clip.mp4", "--video", first);
  EXPECT_EQ(head.total_frames, 13);
  ASSERT_EQ(head.frames.size(), 4u);
  EXPECT_LT(frame_error(clip_, 3, head.frames[3]), frame_error(clip_, 12, head.frames[3]));
  VideoReadOptions last = first;
  last.from_end = true;
  const RgbVideo tail = read_video(dir_ / "clip.mp4", "--video", last);
  ASSERT_EQ(tail.frames.size(), 4u);
  EXPECT_LT(frame_error(clip_, 9, tail.frames[0]), 4.0);
  EXPECT_LT(frame_error(clip_, 12, tail.frames[3]), 4.0);
}

TEST_F(VideoReader, ReadsWebmAndMovFromFfmpeg) {
  if (std::system("ffmpeg -version >/dev/null 2>&1") != 0) GTEST_SKIP() << "no ffmpeg command";
  const std::string source = (dir_ / "clip.mp4").string();
  for (const auto& [name, codec] : {std::pair<std::string, std::string>{"clip.webm", "libvpx-vp9 -b:v 0 -crf 20"},
                                    {"clip.mov", "libx264 -crf 18"}}) {
    const std::string command = "ffmpeg -v error -y -i '" + source + "' -c:v " + codec + " '" +
                                (dir_ / name).string() + "' >/dev/null 2>&1";
    if (std::system(command.c_str()) != 0) {
      ADD_FAILURE() << "ffmpeg could not write " << name;
      continue;
    }
    const RgbVideo video = read_video(dir_ / name, "--video");
    EXPECT_EQ(video.total_frames, 13) << name;
    ASSERT_EQ(video.frames.size(), 13u) << name;
    EXPECT_LT(frame_error(clip_, 6, video.frames[6]), 6.0) << name;
  }
}

TEST_F(VideoReader, BadFilesAreOneLineErrorsNamingTheFile) {
  EXPECT_EQ(usage_error(dir_ / "missing.mp4"), "--video '" + (dir_ / "missing.mp4").string() + "': no such file");
  EXPECT_NE(usage_error(dir_.path()).find("is a directory"), std::string::npos);
  std::ofstream(dir_ / "empty.mp4").close();
  EXPECT_NE(usage_error(dir_ / "empty.mp4").find("': is empty"), std::string::npos);
  std::ofstream(dir_ / "garbage.mp4") << std::string(4096, 'x');
  EXPECT_NE(usage_error(dir_ / "garbage.mp4").find("not a video FFmpeg can open"), std::string::npos)
      << usage_error(dir_ / "garbage.mp4");
  // The first half of the file: the index (moov, at the end) is gone.
  const std::string bytes = test::read_bytes(dir_ / "clip.mp4");
  std::ofstream(dir_ / "truncated.mp4", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  const std::string truncated = usage_error(dir_ / "truncated.mp4");
  EXPECT_NE(truncated.find("truncated.mp4'"), std::string::npos) << truncated;
  EXPECT_EQ(truncated.find('\n'), std::string::npos) << truncated;
  // A still image is not a clip.
  const fs::path png = fs::path(soragen::test::data_dir()) / "images" / "pattern.png";
  EXPECT_NE(usage_error(png).find("is a still image, expected a video"), std::string::npos) << usage_error(png);
}

}  // namespace
}  // namespace soragen::video
