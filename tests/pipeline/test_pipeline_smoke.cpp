// The embedded default through the public API and the soragen executable.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "soragen/error.h"
#include "soragen/pipeline.h"
#include "test_util.h"
#include "video/metadata.h"
#include "video_test_util.h"

namespace soragen {
namespace {

ResolvedRequest small_request(const Pipeline& pipeline, std::uint64_t seed) {
  GenerationRequest request;
  request.prompt = "a small red circle moving to the right on a blue background";
  request.frames = 5;
  request.steps = 3;
  request.seed = seed;
  return resolve_request(request, pipeline.defaults());
}

TEST(PipelineSmoke, SameSeedSameFramesOtherSeedOtherFrames) {
  Pipeline pipeline = Pipeline::load({"default"}, {"cpu", "fp32", 0}, Logger());
  std::vector<ProgressEvent> events;
  const VideoFrames first =
      pipeline.generate(small_request(pipeline, 7), [&](const ProgressEvent& e) { events.push_back(e); });
  const VideoFrames again = pipeline.generate(small_request(pipeline, 7), nullptr);
  const VideoFrames other = pipeline.generate(small_request(pipeline, 8), nullptr);
  EXPECT_EQ(first.count, 5);
  EXPECT_EQ(first.width, pipeline.defaults().width);
  EXPECT_EQ(first.rgb, again.rgb);
  EXPECT_NE(first.rgb, other.rgb);
  // Every stage begins and ends; denoising reports each of its steps.
  int denoise_steps = 0;
  for (const auto& e : events) denoise_steps += e.stage == Stage::denoise && e.step > 0;
  EXPECT_EQ(denoise_steps, 3);
  EXPECT_EQ(events.front().stage, Stage::encode_text);
  EXPECT_EQ(events.back().stage, Stage::decode);
  EXPECT_EQ(events.back().step, 1);
}

TEST(PipelineSmoke, CancelStopsAfterTheCurrentStep) {
  Pipeline pipeline = Pipeline::load({"default"}, {"cpu", "fp32", 0}, Logger());
  std::atomic<bool> stop{false};
  int steps_seen = 0;
  const auto progress = [&](const ProgressEvent& e) {
    if (e.stage == Stage::denoise && e.step == 1) stop = true;
    steps_seen += e.stage == Stage::denoise && e.step > 0;
  };
  EXPECT_THROW(pipeline.generate(small_request(pipeline, 1), progress, &stop), InterruptedError);
  EXPECT_EQ(steps_seen, 1);
}

TEST(PipelineSmoke, AFreedTextEncoderIsAClearError) {
  RuntimeOptions runtime{"cpu", "fp32", 0};
  runtime.free_text_encoder_after_use = true;
  Pipeline pipeline = Pipeline::load({"default"}, runtime, Logger());
  EXPECT_EQ(pipeline.generate(small_request(pipeline, 1), nullptr).count, 5);
  EXPECT_THROW(pipeline.generate(small_request(pipeline, 1), nullptr), UsageError);
}

TEST(PipelineSmoke, RenderWithTheCommandLine) {
  test::TempDir dir;
  const auto out = dir / "ball.mp4";
  const test::CommandResult result = test::run_command(
      "'" + (test::build_dir() / "soragen").string() +
      "' --prompt 'a small red circle moving to the right on a blue background' --frames 9 --steps 4 --seed 42 -o '" +
      out.string() + "' </dev/null");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("seed 42"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("model 'default'"), std::string::npos) << result.output;

  const video::test::DecodedVideo video = video::test::decode_file(out);
  EXPECT_EQ(video.codec, "h264");
  EXPECT_EQ(video.rgb.size(), 9u);
  EXPECT_EQ(video.width, 64);
  EXPECT_EQ(video.height, 64);
  EXPECT_EQ(video.avg_fps_num, 8);
  EXPECT_EQ(video.avg_fps_den, 1);
  // Frames carry content: not one flat colour, and not all the same.
  bool varies_in_frame = false;
  for (std::size_t i = 3; i < video.rgb[0].size() && !varies_in_frame; ++i) {
    varies_in_frame = video.rgb[0][i] != video.rgb[0][i % 3];
  }
  EXPECT_TRUE(varies_in_frame);
  EXPECT_NE(video.rgb.front(), video.rgb.back());

  const nlohmann::json meta = nlohmann::json::parse(video::read_metadata_json(out));
  EXPECT_EQ(meta.at("seed"), 42);
  EXPECT_EQ(meta.at("frames"), 9);
  EXPECT_EQ(meta.at("steps"), 4);
  EXPECT_EQ(meta.at("model"), "default");
  EXPECT_EQ(meta.at("prompt"), "a small red circle moving to the right on a blue background");
}

std::string soragen_command() { return "'" + (test::build_dir() / "soragen").string() + "'"; }

TEST(PipelineSmoke, PngFramesForAnOutputEndingInSlash) {
  test::TempDir dir;
  const auto frames = dir / "frames";
  const test::CommandResult result = test::run_command(soragen_command() + " --prompt 'a red ball' --frames 5 --steps 2 -o '" +
                                                       frames.string() + "/' </dev/null");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(frames)) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  ASSERT_EQ(names.size(), 6u);  // five frames and params.json
  EXPECT_EQ(names.back(), "params.json");
  const video::test::DecodedVideo first = video::test::decode_file(frames / names.front());
  EXPECT_EQ(first.width, 64);
  EXPECT_EQ(first.codec, "png");
  EXPECT_EQ(nlohmann::json::parse(video::read_metadata_json(frames)).at("frames"), 5);
}

TEST(PipelineSmoke, BatchGoesOnPastBadItemsAndResumes) {
  test::TempDir dir;
  std::ofstream(dir / "prompts.jsonl") << "a red ball\n"
                                           "{\"prompt\": \"broken\"\n"
                                           "{\"prompt\": \"a blue cube\", \"seed\": 3}\n"
                                           "{\"prompt\": \"too wide\", \"width\": 100}\n"
                                           "{\"prompt\": \"nowhere\", \"output\": \"/no/such/dir/x.mp4\"}\n";
  const std::string command = soragen_command() + " --prompt-file '" + (dir / "prompts.jsonl").string() +
                              "' --frames 5 --steps 2 -o '" + (dir / "{index:02}-{slug}.mp4").string() + "'";
  const test::CommandResult first = test::run_command(command + " </dev/null");
  EXPECT_EQ(first.exit_code, 5) << first.output;
  EXPECT_TRUE(std::filesystem::exists(dir / "01-a-red-ball.mp4")) << first.output;
  EXPECT_TRUE(std::filesystem::exists(dir / "02-a-blue-cube.mp4")) << first.output;
  for (const char* line : {"line 2: not valid JSON", "line 4: --width 100", "line 5: -o '/no/such/dir/x.mp4'"}) {
    EXPECT_NE(first.output.find(line), std::string::npos) << line << "\n" << first.output;
  }
  EXPECT_NE(first.output.find("batch done: 2 ok, 3 failed, 0 skipped"), std::string::npos) << first.output;

  const test::CommandResult again = test::run_command(command + " --skip-existing </dev/null");
  EXPECT_EQ(again.exit_code, 5) << again.output;
  EXPECT_NE(again.output.find("batch done: 0 ok, 3 failed, 2 skipped"), std::string::npos) << again.output;
  EXPECT_EQ(again.output.find("denoising"), std::string::npos) << again.output;
}

TEST(PipelineSmoke, InterruptLeavesNothingAndExits130) {
  test::TempDir dir;
  test::TempDir logs;  // apart, so `dir` must end up empty
  for (const char* signal : {"INT", "TERM"}) {
    const auto out = dir / "long.mp4";
    const std::string log = (logs / (std::string("soragen-") + signal + ".log")).string();
    // The signal goes once the first denoising step is logged (at most 60 s),
    // however fast or slow the machine.
    const test::CommandResult result = test::run_command(
        "(" + soragen_command() + " --prompt 'a red ball' --steps 1000 -o '" + out.string() + "' </dev/null >'" +
        log + "' 2>&1 & pid=$!; for i in $(seq 600); do grep -q 'denoising step' '" + log +
        "' && break; sleep 0.1; done; kill -" + signal + " $pid; wait $pid; echo \"exit $?\"; cat '" + log + "')");
    EXPECT_NE(result.output.find("exit 130"), std::string::npos) << signal << "\n" << result.output;
    EXPECT_NE(result.output.find("interrupted after denoising step"), std::string::npos) << result.output;
    EXPECT_TRUE(std::filesystem::is_empty(dir.path())) << "left files behind after SIG" << signal;
  }
}

}  // namespace
}  // namespace soragen
