// MP4 round trips: what the writer produces is decoded with plain libav* and
// compared with what went in.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

extern "C" {
#include <libavcodec/avcodec.h>
}

#include "soragen/error.h"
#include "video/writer.h"
#include "video_test_util.h"

namespace soragen::video {
namespace {

using test::ScratchDir;

// Top-level MP4 box types in file order.
std::vector<std::string> top_level_boxes(const std::string& bytes) {
  std::vector<std::string> boxes;
  std::size_t at = 0;
  while (at + 8 <= bytes.size()) {
    std::uint64_t size = 0;
    for (int i = 0; i < 4; ++i) size = (size << 8) | static_cast<std::uint8_t>(bytes[at + i]);
    boxes.push_back(bytes.substr(at + 4, 4));
    if (size == 1 && at + 16 <= bytes.size()) {
      size = 0;
      for (int i = 8; i < 16; ++i) size = (size << 8) | static_cast<std::uint8_t>(bytes[at + i]);
    }
    if (size < 8) break;
    at += size;
  }
  return boxes;
}

TEST(Mp4Writer, RoundTripKeepsFramesTimingAndPixels) {
  ScratchDir dir;
  const VideoFrames clip = test::synthetic_clip(64, 48, 17);
  WriteOptions options;  // 16 fps, crf 18
  write_video(dir / "clip.mp4", clip, OutputFormat::mp4, options);

  const test::DecodedVideo video = test::decode_file(dir / "clip.mp4");
  EXPECT_EQ(video.codec, "h264");
  EXPECT_EQ(video.pix_fmt, "yuv420p");
  EXPECT_EQ(video.width, 64);
  EXPECT_EQ(video.height, 48);
  EXPECT_EQ(video.profile, FF_PROFILE_H264_HIGH);
  ASSERT_EQ(video.rgb.size(), 17u);
  EXPECT_EQ(video.avg_fps_num, 16);
  EXPECT_EQ(video.avg_fps_den, 1);
  EXPECT_NEAR(video.duration_s, 17.0 / 16.0, 1e-3);
  // Presentation timestamps step by exactly one frame, starting at zero.
  const std::int64_t tick = video.time_base_den / 16;
  ASSERT_EQ(video.time_base_den % 16, 0) << video.time_base_den;
  for (std::size_t i = 0; i < video.pts.size(); ++i) EXPECT_EQ(video.pts[i], static_cast<std::int64_t>(i) * tick);

  const std::vector<double> error = test::mean_abs_error(clip, video);
  std::printf("mean abs error per channel, crf 18, with square: R %.2f G %.2f B %.2f\n", error[0], error[1],
              error[2]);
  // Measured 2.79 / 1.17 / 2.71: the square's hard red edges alone cost ~2 in
  // R under 4:2:0 (1.4 at crf 1).
  for (double e : error) EXPECT_LT(e, 4.0);
}

TEST(Mp4Writer, SmoothContentComesBackCloseToTheInput) {
  ScratchDir dir;
  const VideoFrames clip = test::synthetic_clip(64, 48, 17, /*with_square=*/false);
  write_video(dir / "smooth.mp4", clip, OutputFormat::mp4, {});
  const std::vector<double> error = test::mean_abs_error(clip, test::decode_file(dir / "smooth.mp4"));
  std::printf("mean abs error per channel, crf 18, smooth: R %.2f G %.2f B %.2f\n", error[0], error[1], error[2]);
  // Measured 1.18 / 0.75 / 2.08 (0.6 / 0.3 / 0.7 at crf 1; the bare
  // RGB->YUV->RGB round trip is 0.47 / 0.21 / 0.56). Reading BT.709 back as
  // BT.601 gives 5.5 / 10.0 / 3.7, limited as full range 6.4 / 6.2 / 7.1.
  for (double e : error) EXPECT_LT(e, 3.0);
}

TEST(Mp4Writer, TagsBt709LimitedRangeAndPutsMoovFirst) {
  ScratchDir dir;
  write_video(dir / "a.mp4", test::synthetic_clip(32, 32, 3), OutputFormat::mp4, {});
  const test::DecodedVideo video = test::decode_file(dir / "a.mp4");
  EXPECT_EQ(video.color_range, "tv");
  EXPECT_EQ(video.color_space, "bt709");
  // +faststart: browsers can start playing before the whole file arrives.
  const std::vector<std::string> boxes = top_level_boxes(test::read_bytes(dir / "a.mp4"));
  ASSERT_GE(boxes.size(), 3u);
  EXPECT_EQ(boxes[0], "ftyp");
  EXPECT_EQ(boxes[1], "moov");
  EXPECT_EQ(boxes.back(), "mdat");
}

TEST(Mp4Writer, NtscFrameRateIsExact) {
  ScratchDir dir;
  WriteOptions options;
  options.fps = 23.976;
  write_video(dir / "ntsc.mp4", test::synthetic_clip(32, 32, 24), OutputFormat::mp4, options);
  const test::DecodedVideo video = test::decode_file(dir / "ntsc.mp4");
  EXPECT_EQ(video.avg_fps_num, 24000);
  EXPECT_EQ(video.avg_fps_den, 1001);
  EXPECT_EQ(video.rgb.size(), 24u);
  EXPECT_NEAR(video.duration_s, 1.001, 1e-3);
}

TEST(Mp4Writer, ExactFrameRate) {
  auto rate = [](double fps) {
    const Rational r = exact_frame_rate(fps);
    return std::to_string(r.num) + "/" + std::to_string(r.den);
  };
  EXPECT_EQ(rate(16), "16/1");
  EXPECT_EQ(rate(24.0), "24/1");
  EXPECT_EQ(rate(23.976), "24000/1001");
  EXPECT_EQ(rate(29.97), "30000/1001");
  EXPECT_EQ(rate(59.94), "60000/1001");
  EXPECT_EQ(rate(12.5), "25/2");
  EXPECT_EQ(rate(23.98), "1199/50");
}

TEST(Mp4Writer, MetadataRoundTripsIncludingChineseAndQuotes) {
  ScratchDir dir;
  WriteOptions options;
  options.metadata_json =
      R"({"prompt":"一只猫在雨中的霓虹灯街道上行走, \"cinematic\"","negative_prompt":"色调艳丽，过曝",)"
      R"("seed":42,"model":"Wan2.1-T2V-1.3B","steps":50,"guidance":5.0,"shift":5.0,)"
      R"("sampler":"unipc","size":"64x48","soragen_version":"0.1.0"})";
  write_video(dir / "meta.mp4", test::synthetic_clip(64, 48, 2), OutputFormat::mp4, options);
  EXPECT_EQ(read_metadata_json(dir / "meta.mp4"), options.metadata_json);
}

TEST(Mp4Writer, NoMetadataReadsBackEmpty) {
  ScratchDir dir;
  write_video(dir / "plain.mp4", test::synthetic_clip(16, 16, 1), OutputFormat::mp4, {});
  EXPECT_EQ(read_metadata_json(dir / "plain.mp4"), "");
  EXPECT_THROW(read_metadata_json(dir / "missing.mp4"), OutputError);
}

TEST(Mp4Writer, StreamsFramesOneAtATime) {
  ScratchDir dir;
  const VideoFrames clip = test::synthetic_clip(48, 32, 5);
  std::unique_ptr<FrameSink> sink = open_mp4(dir / "s.mp4", 48, 32, {});
  for (int i = 0; i < clip.count; ++i) sink->write(clip.frame(i));
  EXPECT_EQ(sink->frames_written(), 5);
  EXPECT_FALSE(std::filesystem::exists(dir / "s.mp4"));  // invisible until commit
  sink->commit();
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"s.mp4"});
  EXPECT_EQ(test::decode_file(dir / "s.mp4").rgb.size(), 5u);
  EXPECT_THROW(sink->write(clip.frame(0)), OutputError);
}

std::string error_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const OutputError& e) {
    return e.what();
  }
  return "no OutputError";
}

TEST(Mp4Writer, RejectsOddSizesAndBadOptionsBeforeTouchingTheDisk) {
  ScratchDir dir;
  const auto target = dir / "bad.mp4";
  EXPECT_EQ(error_of([&] { open_mp4(target, 63, 48, {}); }),
            "output '" + target.string() + "': frame size 63x48 is odd; H.264 in yuv420p needs an even width and height");
  EXPECT_NE(error_of([&] { open_mp4(target, 64, 47, {}); }).find("is odd"), std::string::npos);
  EXPECT_NE(error_of([&] { open_mp4(target, 0, 48, {}); }).find("not positive"), std::string::npos);
  WriteOptions options;
  options.fps = 0;
  EXPECT_NE(error_of([&] { open_mp4(target, 64, 48, options); }).find("frame rate 0"), std::string::npos);
  options = {};
  options.crf = 0;
  EXPECT_NE(error_of([&] { open_mp4(target, 64, 48, options); }).find("crf 0"), std::string::npos);
  options = {};
  options.preset = "turbo";
  EXPECT_NE(error_of([&] { open_mp4(target, 64, 48, options); }).find("preset 'turbo'"), std::string::npos);
  EXPECT_TRUE(dir.entries().empty());
}

TEST(Mp4Writer, CrfAndPresetChangeTheOutput) {
  ScratchDir dir;
  const VideoFrames clip = test::synthetic_clip(64, 48, 8);
  WriteOptions fine;
  fine.crf = 10;
  WriteOptions coarse;
  coarse.crf = 40;
  coarse.preset = "ultrafast";
  write_video(dir / "fine.mp4", clip, OutputFormat::mp4, fine);
  write_video(dir / "coarse.mp4", clip, OutputFormat::mp4, coarse);
  EXPECT_GT(std::filesystem::file_size(dir / "fine.mp4"), std::filesystem::file_size(dir / "coarse.mp4"));
  const auto coarse_error = test::mean_abs_error(clip, test::decode_file(dir / "coarse.mp4"));
  const auto fine_error = test::mean_abs_error(clip, test::decode_file(dir / "fine.mp4"));
  EXPECT_GT(coarse_error[0], fine_error[0]);
}

}  // namespace
}  // namespace soragen::video
