// Renders through single component files: the bundled default's own parts
// passed through --dit, --text-encoder, --vae and --tokenizer give the frames
// --model default gives; a Comfy-named DiT too; the CLI's exit codes.
#include <gtest/gtest.h>

#include "component_files_util.h"
#include "soragen/error.h"
#include "soragen/pipeline.h"
#include "test_util.h"
#include "video_test_util.h"

namespace soragen {
namespace {

namespace fs = std::filesystem;

using test::all_four;

// Every field decided from the default's defaults, so that both pipelines
// render the same request whatever their own defaults.
ResolvedRequest request_for(const Pipeline& reference) {
  GenerationRequest request;
  request.prompt = "a small red circle moving to the right on a blue background";
  request.frames = 5;
  request.steps = 3;
  request.seed = 11;
  return resolve_request(request, reference.defaults());
}

VideoFrames render(const ModelSpec& spec, const ResolvedRequest& request) {
  Pipeline pipeline = Pipeline::load(spec, {"cpu", "fp32", 0}, Logger());
  return pipeline.generate(request, nullptr);
}

TEST(ComponentFilesSmoke, TheDefaultsOwnFilesThroughTheFourFlagsRenderTheSameFrames) {
  Pipeline reference = Pipeline::load({"default"}, {"cpu", "fp32", 0}, Logger());
  const ResolvedRequest request = request_for(reference);
  const VideoFrames expected = reference.generate(request, nullptr);
  const VideoFrames frames = render(all_four(test::default_model_dir()), request);
  EXPECT_EQ(frames.count, expected.count);
  EXPECT_EQ(frames.width, expected.width);
  EXPECT_TRUE(frames.rgb == expected.rgb);
}

TEST(ComponentFilesSmoke, AComfyNamedDitRendersTheSameFrames) {
  Pipeline reference = Pipeline::load({"default"}, {"cpu", "fp32", 0}, Logger());
  const ResolvedRequest request = request_for(reference);
  test::TempDir dir;
  ModelSpec spec;
  spec.dit = test::write_comfy_dit(dir.path());
  EXPECT_TRUE(render(spec, request).rgb == reference.generate(request, nullptr).rgb);
}

TEST(ComponentFilesSmoke, AComfyScaledFp8TextEncoderRendersTheSameFrames) {
  Pipeline reference = Pipeline::load({"default"}, {"cpu", "fp32", 0}, Logger());
  const ResolvedRequest request = request_for(reference);
  test::TempDir dir;
  ModelSpec spec;
  spec.text_encoder = test::write_comfy_scaled_text_encoder(dir.path());
  EXPECT_TRUE(render(spec, request).rgb == reference.generate(request, nullptr).rgb);
}

TEST(ComponentFilesSmoke, StrictWeightsRefusesAnImageToVideoDitThatWouldLoadAsTextToVideo) {
  test::TempDir dir;
  ModelSpec spec;
  spec.dit = test::write_comfy_dit(dir.path(), {{"model.diffusion_model.img_emb.proj.1.weight", at::zeros({128, 64})},
                                                {"model.diffusion_model.blocks.0.cross_attn.k_img.weight",
                                                 at::zeros({128, 128})}});
  std::vector<std::string> warnings;
  const Logger logger([&](LogLevel level, const std::string& m) {
    if (level == LogLevel::warning) warnings.push_back(m);
  }, LogLevel::debug);
  Pipeline::load(spec, {"cpu", "fp32", 0}, logger);  // a warning only
  bool warned = false;
  for (const auto& w : warnings) warned |= w.find("2 unexpected tensor(s) ignored") != std::string::npos;
  EXPECT_TRUE(warned);
  spec.strict_weights = true;
  try {
    Pipeline::load(spec, {"cpu", "fp32", 0}, Logger());
    FAIL() << "no error";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("2 unexpected tensor(s) (model.diffusion_model.blocks.0.cross_attn.k_img"),
              std::string::npos)
        << e.what();
  }
}

TEST(ComponentFilesSmoke, TheTokenizerMustFitTheTextEncodersVocabulary) {
  test::TempDir dir;
  ModelSpec spec;
  spec.text_encoder = test::write_resized_text_encoder(dir.path(), 64, 100);
  try {
    Pipeline::load(spec, {"cpu", "fp32", 0}, Logger());
    FAIL() << "no error";
  } catch (const ModelError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("the tokenizer and the text encoder do not fit together"), std::string::npos) << message;
    EXPECT_NE(message.find("spiece.model"), std::string::npos) << message;
    EXPECT_NE(message.find("embeds only 100 (vocab)"), std::string::npos) << message;
  }
}

test::CommandResult soragen(const std::string& arguments) {
  return test::run_command("'" + (test::build_dir() / "soragen").string() + "' " + arguments + " </dev/null");
}

std::string four_flags(const fs::path& dir) {
  return "--dit '" + (dir / "dit.safetensors").string() + "' --text-encoder '" +
         (dir / "text_encoder.safetensors").string() + "' --vae '" + (dir / "vae.safetensors").string() +
         "' --tokenizer '" + (dir / "spiece.model").string() + "'";
}

TEST(ComponentFilesSmoke, TheCommandLine) {
  const test::CommandResult help = soragen("--help");
  for (const char* flag : {"--dit", "--text-encoder", "--vae", "--tokenizer", "--strict-weights"}) {
    EXPECT_NE(help.output.find(flag), std::string::npos) << flag;
  }
  test::TempDir dir;
  const fs::path model = test::default_model_dir();
  const std::string out = "-o '" + (dir / "x.mp4").string() + "'";
  const test::CommandResult wrong =
      soragen("--prompt x " + out + " --vae '" + (model / "dit.safetensors").string() + "'");
  EXPECT_EQ(wrong.exit_code, 3) << wrong.output;
  EXPECT_NE(wrong.output.find("pass it to --dit"), std::string::npos) << wrong.output;
  // One error line, before anything loads.
  const size_t error = wrong.output.find("soragen: error: ");
  ASSERT_NE(error, std::string::npos) << wrong.output;
  EXPECT_EQ(wrong.output.find('\n', error), wrong.output.size() - 1) << wrong.output;

  test::TempDir other;
  const fs::path te = test::write_resized_text_encoder(other.path(), 32, 170);
  const test::CommandResult mismatch = soragen("--prompt x " + out + " --text-encoder '" + te.string() + "'");
  EXPECT_EQ(mismatch.exit_code, 3) << mismatch.output;
  EXPECT_NE(mismatch.output.find("do not fit together"), std::string::npos) << mismatch.output;

  EXPECT_EQ(soragen("--prompt x " + out + " --model default " + four_flags(model)).exit_code, 2);

  const test::CommandResult ok = soragen("--prompt 'a red ball' --frames 5 --steps 2 --width 64 --height 64 " + out +
                                         " " + four_flags(model));
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("(component files)"), std::string::npos) << ok.output;
  EXPECT_EQ(video::test::decode_file(dir / "x.mp4").rgb.size(), 5u);
}

}  // namespace
}  // namespace soragen
