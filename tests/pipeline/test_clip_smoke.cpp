// What Sora does with clips, on the embedded default through the public API
// and the soragen executable: video to video at both ends of --strength,
// extension forward and backward, connect, loops and windowed long videos
// keep the frames they are given and add the frames asked for; bad clips are
// one-line errors before any weight loads.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

#include "soragen/error.h"
#include "soragen/pipeline.h"
#include "test_util.h"
#include "video/metadata.h"
#include "video/video_reader.h"
#include "video/writer.h"
#include "video_test_util.h"

namespace soragen {
namespace {

namespace fs = std::filesystem;

class ClipSmoke : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pipeline_ = new Pipeline(Pipeline::load({"default"}, {"cpu", "fp32", 0}, Logger()));
    dir_ = new video::test::ScratchDir();
    // Two 9-frame clips of the default's world at its own settings (a 4-step
    // render is no clip of that world, and the tiny VAE only knows the
    // world), written as MP4 and read back as the pipeline reads them.
    GenerationRequest a = request("a small red circle moving to the right on a blue background", 9, 3);
    GenerationRequest b = request("a small red circle moving to the right on a blue background", 9, 4);
    a.steps.reset();
    b.steps.reset();
    clip_a_ = render(a);
    clip_b_ = render(b);
    write(clip_a_, *dir_ / "a.mp4");
    write(clip_b_, *dir_ / "b.mp4");
  }
  static void TearDownTestSuite() {
    delete pipeline_;
    delete dir_;
  }

  static GenerationRequest request(const std::string& prompt, int frames, std::uint64_t seed) {
    GenerationRequest r;
    r.prompt = prompt;
    r.frames = frames;
    r.steps = 4;
    r.seed = seed;
    return r;
  }
  static VideoFrames render(const GenerationRequest& r, std::vector<ProgressEvent>* events = nullptr) {
    return pipeline_->generate(resolve_request(r, pipeline_->defaults()), [&](const ProgressEvent& e) {
      if (events) events->push_back(e);
    });
  }
  static void write(const VideoFrames& frames, const fs::path& path) {
    video::WriteOptions options;
    options.fps = 8;
    video::write_video(path, frames, video::OutputFormat::mp4, options);
  }
  // The clip as the pipeline sees it (decoded; the default's size already).
  static VideoFrames read(const fs::path& path) {
    const video::RgbVideo clip = video::read_video(path, "--video");
    VideoFrames out(clip.width, clip.height, static_cast<int>(clip.frames.size()));
    for (std::size_t i = 0; i < clip.frames.size(); ++i) {
      std::copy(clip.frames[i].pixels.begin(), clip.frames[i].pixels.end(), out.frame(static_cast<int>(i)));
    }
    return out;
  }
  static bool same_frames(const VideoFrames& a, int first_a, const VideoFrames& b, int first_b, int count) {
    return std::equal(a.frame(first_a), a.frame(first_a) + count * a.frame_bytes(), b.frame(first_b));
  }
  static double mean_abs(const VideoFrames& a, const VideoFrames& b) {
    double total = 0;
    for (std::size_t i = 0; i < a.rgb.size(); ++i) total += std::abs(a.rgb[i] - b.rgb[i]);
    return total / static_cast<double>(a.rgb.size());
  }

  static Pipeline* pipeline_;
  static video::test::ScratchDir* dir_;
  static VideoFrames clip_a_, clip_b_;
};

Pipeline* ClipSmoke::pipeline_ = nullptr;
video::test::ScratchDir* ClipSmoke::dir_ = nullptr;
VideoFrames ClipSmoke::clip_a_, ClipSmoke::clip_b_;

TEST_F(ClipSmoke, StrengthOneIsTextToVideoAndZeroIsTheClipThroughTheVae) {
  GenerationRequest r = request("a small green square moving up on a white background", 9, 11);
  const VideoFrames plain = render(r);
  r.video = (*dir_ / "a.mp4").string();
  r.strength = 1.0;
  EXPECT_EQ(render(r).rgb, plain.rgb);
  r.strength = 0.0;
  std::vector<ProgressEvent> events;
  const VideoFrames kept = render(r, &events);
  ASSERT_EQ(kept.count, 9);
  // Only the VAE's round trip changes the clip (the default's tiny VAE and
  // x264 at crf 18 together) and no denoising step runs: the result is the
  // same whatever the prompt and the seed, and nearer the clip than a render.
  for (const ProgressEvent& e : events) EXPECT_FALSE(e.stage == Stage::denoise && e.step > 0 && e.total > 1);
  GenerationRequest other = r;
  other.prompt = "a large black triangle moving down on a yellow background";
  other.seed = 99;
  EXPECT_EQ(render(other).rgb, kept.rgb);
  const VideoFrames clip = read(*dir_ / "a.mp4");
  std::printf("VAE round trip of the clip: mean |diff| %.2f levels; a render: %.2f\n", mean_abs(kept, clip),
              mean_abs(plain, clip));
  EXPECT_LT(mean_abs(kept, clip), mean_abs(plain, clip));
  r.strength = 0.5;
  events.clear();
  render(r, &events);
  int steps = 0;
  for (const ProgressEvent& e : events) steps += e.stage == Stage::denoise && e.step > 0;
  EXPECT_EQ(steps, 2);  // half of the 4 steps
}

TEST_F(ClipSmoke, ExtensionKeepsTheClipAndAddsTheFramesAsked) {
  const VideoFrames a = read(*dir_ / "a.mp4");
  GenerationRequest r = request("a small red circle moving to the right on a blue background", 9, 5);
  r.extend = (*dir_ / "a.mp4").string();
  const VideoFrames forward = render(r);
  ASSERT_EQ(forward.count, a.count + 9);
  EXPECT_TRUE(same_frames(forward, 0, a, 0, a.count));
  r.backward = true;
  const VideoFrames backward = render(r);
  ASSERT_EQ(backward.count, 9 + a.count);
  EXPECT_TRUE(same_frames(backward, 9, a, 0, a.count));
  EXPECT_FALSE(same_frames(backward, 0, forward, a.count, 9));
}

TEST_F(ClipSmoke, LongExtensionsRunInWindowsThatTheProgressNames) {
  GenerationRequest r = request("a small red circle moving to the right on a blue background", 29, 5);
  r.extend = (*dir_ / "a.mp4").string();
  std::vector<ProgressEvent> events;
  const VideoFrames out = render(r, &events);
  EXPECT_EQ(out.count, 9 + 29);
  // 17-frame windows with 5 frames of context add 12 frames each: 3 windows.
  int last_window = 0;
  for (const ProgressEvent& e : events) {
    if (e.stage != Stage::denoise) continue;
    EXPECT_EQ(e.windows, 3);
    EXPECT_GE(e.window, last_window);
    last_window = e.window;
  }
  EXPECT_EQ(last_window, 3);
}

TEST_F(ClipSmoke, ConnectWritesATransitionBetweenTheTwoClips) {
  const VideoFrames a = read(*dir_ / "a.mp4");
  const VideoFrames b = read(*dir_ / "b.mp4");
  GenerationRequest r = request("a small red circle moving to the right on a blue background", 5, 6);
  r.connect = std::vector<std::string>{(*dir_ / "a.mp4").string(), (*dir_ / "b.mp4").string()};
  const VideoFrames out = render(r);
  // 5 asked: the 4k+3 that fits is 7 (clip_plan.h).
  ASSERT_EQ(out.count, a.count + 7 + b.count);
  EXPECT_TRUE(same_frames(out, 0, a, 0, a.count));
  EXPECT_TRUE(same_frames(out, a.count + 7, b, 0, b.count));
}

TEST_F(ClipSmoke, LoopsAndLongVideosHaveTheirLengths) {
  GenerationRequest r = request("a small red circle moving to the right on a blue background", 9, 8);
  const VideoFrames plain = render(r);
  r.loop = true;
  const VideoFrames looped = render(r);
  ASSERT_EQ(looped.count, 9 + 7);
  EXPECT_TRUE(same_frames(looped, 0, plain, 0, 9));
  GenerationRequest long_video = request("a small red circle moving to the right on a blue background", 41, 8);
  long_video.window = 17;
  const VideoFrames out = render(long_video);
  EXPECT_EQ(out.count, 41);
  // The first window is the plain 17-frame render.
  long_video.frames = 17;
  EXPECT_TRUE(same_frames(out, 0, render(long_video), 0, 17));
}

TEST_F(ClipSmoke, TheDefaultAnimatesAFirstImage) {
  ASSERT_EQ(pipeline_->inputs().kind, "ti2v");
  // The clip's first frame as a PNG: the video starts on it (held through
  // the first-frame mask, then through the VAE).
  video::WriteOptions options;
  const fs::path png = *dir_ / "first/";
  VideoFrames first(clip_a_.width, clip_a_.height, 1);
  std::copy(clip_a_.frame(0), clip_a_.frame(0) + clip_a_.frame_bytes(), first.frame(0));
  video::write_video(png, first, video::OutputFormat::png, options);
  GenerationRequest r = request("a small red circle moving to the right on a blue background", 9, 12);
  r.image = (png / "frame_00000.png").string();
  const VideoFrames out = render(r);
  ASSERT_EQ(out.count, 9);
  ASSERT_EQ(out.width, clip_a_.width);
  const VideoFrames plain = render(request("a small red circle moving to the right on a blue background", 9, 12));
  const auto frame_diff = [](const VideoFrames& a, const VideoFrames& b) {
    double total = 0;
    for (std::size_t k = 0; k < a.frame_bytes(); ++k) total += std::abs(a.frame(0)[k] - b.frame(0)[k]);
    return total / static_cast<double>(a.frame_bytes());
  };
  EXPECT_LT(frame_diff(out, first), frame_diff(plain, first));
}

TEST_F(ClipSmoke, TheCommandLineRefusesBadClipsBeforeLoading) {
  const std::string soragen = "'" + (test::build_dir() / "soragen").string() + "' --prompt 'a red circle' --steps 2 ";
  const fs::path out = *dir_ / "refused.mp4";
  std::ofstream(*dir_ / "corrupt.mp4") << std::string(2000, 'z');
  // 1 frame: too short for the 5 frames of context.
  write(VideoFrames(64, 64, 1), *dir_ / "short.mp4");
  const std::string a = (*dir_ / "a.mp4").string();
  const std::vector<std::pair<std::string, std::string>> cases{
      {"--extend '" + (*dir_ / "absent.mp4").string() + "'", "absent.mp4': no such file"},
      {"--video '" + (*dir_ / "corrupt.mp4").string() + "'", "corrupt.mp4': not a video FFmpeg can open"},
      {"--extend '" + (*dir_ / "short.mp4").string() + "'", "short.mp4': 1 frame, too short to condition on"},
      {"--video '" + a + "' --strength 1.5", "--strength 1.5: must be between 0 and 1"},
      {"--strength 0.5", "--strength: needs --video FILE"},
      {"--backward", "--backward: needs --extend FILE"},
      {"--connect '" + a + "'", "--connect: At least 2 required but received 1"},
      {"--video '" + a + "' --loop", "--video and --loop: give one of"},
  };
  for (const auto& [flags, expected] : cases) {
    const test::CommandResult result = test::run_command(soragen + flags + " -o '" + out.string() + "' </dev/null");
    EXPECT_EQ(result.exit_code, 2) << flags << "\n" << result.output;
    EXPECT_NE(result.output.find(expected), std::string::npos) << flags << "\n" << result.output;
    // One line; a flag CLI11 cannot parse adds the --help hint line.
    const bool parse_error = expected.find("required but received") != std::string::npos;
    EXPECT_EQ(std::count(result.output.begin(), result.output.end(), '\n'), parse_error ? 2 : 1)
        << flags << "\n" << result.output;
    EXPECT_FALSE(fs::exists(out)) << flags;
  }
}

TEST_F(ClipSmoke, BatchLinesTakeTheClipFieldsAndTheMetadataKeepsThem) {
  const fs::path list = *dir_ / "clips.jsonl";
  const std::string a = (*dir_ / "a.mp4").string();
  const std::string b = (*dir_ / "b.mp4").string();
  std::ofstream(list) << nlohmann::json{{"prompt", "a red circle"}, {"extend", a}, {"frames", 5}, {"output", "e.mp4"}}.dump()
                      << "\n"
                      << nlohmann::json{{"prompt", "a red circle"}, {"connect", {a, b}}, {"frames", 5}, {"output", "c.mp4"}}.dump()
                      << "\n"
                      << nlohmann::json{{"prompt", "a red circle"}, {"video", a}, {"strength", 0.5}, {"output", "v.mp4"}}.dump()
                      << "\n";
  // Each line names its output, relative to the working folder.
  const fs::path outputs = dir_->path();
  const test::CommandResult result = test::run_command("cd '" + dir_->path().string() + "' && '" +
                                                       (test::build_dir() / "soragen").string() +
                                                       "' --steps 2 --prompt-file '" + list.string() + "' </dev/null");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const video::test::DecodedVideo extended = video::test::decode_file(outputs / "e.mp4");
  EXPECT_EQ(extended.rgb.size(), 9u + 5u);
  const nlohmann::json meta = nlohmann::json::parse(video::read_metadata_json(outputs / "c.mp4"));
  EXPECT_EQ(meta.at("connect"), nlohmann::json({a, b}));
  EXPECT_EQ(nlohmann::json::parse(video::read_metadata_json(outputs / "v.mp4")).at("strength"), 0.5);
  EXPECT_EQ(nlohmann::json::parse(video::read_metadata_json(outputs / "e.mp4")).at("extend"), a);
}

}  // namespace
}  // namespace soragen
