// --preview, --preview-every and --fast-decode through the soragen executable,
// on the bundled default given a small preview decoder of random weights
// (tests/pipeline/preview_model_util.h): what the files hold, not how they
// look. And the refusals, before any weight loads, of a model without one.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

#include "preview_model_util.h"
#include "test_util.h"
#include "video/metadata.h"
#include "video_test_util.h"

namespace soragen {
namespace {

namespace fs = std::filesystem;

std::string soragen_command() { return "'" + (test::build_dir() / "soragen").string() + "'"; }

test::CommandResult render(const std::string& arguments) {
  return test::run_command(soragen_command() + " --prompt 'a small red circle moving to the right' --seed 3 " +
                           arguments + " </dev/null");
}

int count_lines(const std::string& text) { return static_cast<int>(std::count(text.begin(), text.end(), '\n')); }

class PreviewSmoke : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directory(dir_ / "model");
    test::write_default_with_preview_decoder(dir_ / "model");
    model_ = " --model '" + (dir_ / "model").string() + "'";
    const nlohmann::json defaults = test::default_manifest().at("defaults");
    width_ = defaults.at("width").get<int>();
    height_ = defaults.at("height").get<int>();
  }
  test::TempDir dir_;
  std::string model_;
  int width_ = 0;
  int height_ = 0;
};

TEST_F(PreviewSmoke, AnMp4PreviewIsWrittenWhileDenoisingAndAtTheEnd) {
  const fs::path preview = dir_ / "preview.mp4";
  const test::CommandResult result = render(model_ + " --frames 9 --steps 4 --preview-every 2 -vv --preview '" +
                                            preview.string() + "' -o '" + (dir_ / "out.mp4").string() + "'");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  // Step 2 of 4 was written before the denoising ended; then the final latent's.
  const size_t step2 = result.output.find("--preview '" + preview.string() + "': step 2/4");
  const size_t step4 = result.output.find("--preview '" + preview.string() + "': step 4/4");
  ASSERT_NE(step2, std::string::npos) << result.output;
  ASSERT_NE(step4, std::string::npos) << result.output;
  EXPECT_LT(step2, result.output.find("denoising step 3/4")) << result.output;
  for (const char* step : {"step 1/4", "step 3/4"}) {  // only every second step
    EXPECT_EQ(result.output.find("--preview '" + preview.string() + "': " + step), std::string::npos) << step;
  }
  const video::test::DecodedVideo video = video::test::decode_file(preview);
  EXPECT_EQ(video.codec, "h264");
  EXPECT_EQ(video.rgb.size(), 9u);
  EXPECT_EQ(video.width, width_);
  EXPECT_EQ(video.height, height_);
  const nlohmann::json meta = nlohmann::json::parse(video::read_metadata_json(preview));
  EXPECT_EQ(meta.at("preview_step"), 4);
  EXPECT_EQ(meta.at("preview_steps"), 4);
  EXPECT_EQ(meta.at("seed"), 3);
  EXPECT_TRUE(fs::exists(dir_ / "out.mp4"));
  // Nothing but the two outputs: no temporaries left beside them.
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir_.path())) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"model", "out.mp4", "preview.mp4"}));
}

TEST_F(PreviewSmoke, APngPreviewFolderIsReplacedFrameByFrame) {
  const fs::path folder = dir_ / "preview";
  const auto frames_in = [&] {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(folder)) names.push_back(entry.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  };
  const std::string common = model_ + " --steps 2 --preview '" + folder.string() + "/' -o '";
  test::CommandResult result = render(common + (dir_ / "a.mp4").string() + "' --frames 9");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  std::vector<std::string> names = frames_in();
  ASSERT_EQ(names.size(), 10u);  // nine frames and params.json
  EXPECT_EQ(names[8], "frame_00008.png");
  EXPECT_EQ(video::test::decode_file(folder / names[0]).width, width_);
  // A shorter render over the earlier preview: its frames replace the old
  // ones and the old frames past its end go.
  result = render(common + (dir_ / "b.mp4").string() + "' --frames 5");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  names = frames_in();
  EXPECT_EQ(names, (std::vector<std::string>{"frame_00000.png", "frame_00001.png", "frame_00002.png",
                                             "frame_00003.png", "frame_00004.png", "params.json"}));
  EXPECT_EQ(nlohmann::json::parse(video::read_metadata_json(folder)).at("frames"), 5);
  // A folder holding anything else is refused before the render.
  std::ofstream(folder / "notes.txt") << "mine";
  result = render(common + (dir_ / "c.mp4").string() + "' --frames 5");
  EXPECT_EQ(result.exit_code, 4) << result.output;
  EXPECT_NE(result.output.find("holds 'notes.txt', which is no preview's"), std::string::npos) << result.output;
  EXPECT_FALSE(fs::exists(dir_ / "c.mp4"));
  // Nor may the preview be the video itself.
  result = render(model_ + " --preview '" + (dir_ / "c.mp4").string() + "' -o '" + (dir_ / "c.mp4").string() + "'");
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find("is the -o output too"), std::string::npos) << result.output;
  EXPECT_EQ(count_lines(result.output), 1) << result.output;
  EXPECT_FALSE(fs::exists(dir_ / "c.mp4"));
}

TEST_F(PreviewSmoke, FastDecodeGivesTheFramesAndSizeOfTheVaeDecode) {
  const fs::path full = dir_ / "full.mp4", fast = dir_ / "fast.mp4";
  ASSERT_EQ(render(model_ + " --frames 9 --steps 2 -o '" + full.string() + "'").exit_code, 0);
  const test::CommandResult result = render(model_ + " --frames 9 --steps 2 --fast-decode -o '" + fast.string() + "'");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const video::test::DecodedVideo a = video::test::decode_file(full), b = video::test::decode_file(fast);
  EXPECT_EQ(b.rgb.size(), a.rgb.size());
  EXPECT_EQ(b.width, a.width);
  EXPECT_EQ(b.height, a.height);
  EXPECT_NE(b.rgb, a.rgb);  // another decoder (random weights here) made them
  EXPECT_EQ(nlohmann::json::parse(video::read_metadata_json(fast)).at("fast_decode"), true);
}

TEST(PreviewRefusals, AModelWithoutADecoderRefusesInOneLineAndWritesNothing) {
  test::TempDir dir, model_dir;
  test::write_default_without_preview_decoder(model_dir.path());
  const std::string out = " --model '" + model_dir.path().string() + "' -o '" + (dir / "out.mp4").string() + "'";
  const auto refused = [&](const std::string& arguments, int code, const std::string& expected) {
    const test::CommandResult result = render(arguments + out);
    EXPECT_EQ(result.exit_code, code) << arguments << "\n" << result.output;
    EXPECT_NE(result.output.find(expected), std::string::npos) << arguments << "\n" << result.output;
    EXPECT_EQ(count_lines(result.output), 1) << result.output;
    EXPECT_TRUE(fs::is_empty(dir.path())) << arguments;
  };
  const std::string preview = (dir / "p.mp4").string();
  refused("--preview '" + preview + "'", 2,
          "--preview '" + preview + "': this ti2v model has no preview decoder; pass --preview-decoder FILE");
  refused("--fast-decode", 2, "--fast-decode: this ti2v model has no preview decoder");
  refused("--preview-every 3", 2, "--preview-every 3: needs --preview FILE");
  refused("--preview '" + (dir / "p.avi").string() + "'", 2,
          "p.avi': must name an .mp4 file, or a folder ending in '/' for PNG frames");
  refused("--preview-decoder '" + (dir / "absent.pth").string() + "' --fast-decode", 3,
          "--preview-decoder '" + (dir / "absent.pth").string() + "': no such file or directory");
}

}  // namespace
}  // namespace soragen
