#include <gtest/gtest.h>

#include "soragen/error.h"
#include "soragen/options.h"

namespace soragen {
namespace {

GenerationRequest with_prompt() {
  GenerationRequest r;
  r.prompt = "a red ball bouncing";
  return r;
}

std::string usage_message(const GenerationRequest& r) {
  try {
    validate_request(r);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(Request, EmptyOrBlankPromptIsRejected) {
  GenerationRequest r;
  r.prompt = " \t\n";
  EXPECT_EQ(usage_message(r), "--prompt: must not be empty");
}

TEST(Request, FramesMustBe4kPlus1) {
  GenerationRequest r = with_prompt();
  for (int ok : {1, 5, 17, 81}) {
    r.frames = ok;
    EXPECT_EQ(usage_message(r), "") << ok;
  }
  for (int bad : {0, 2, 16, 80, -3, 4005}) {
    r.frames = bad;
    EXPECT_NE(usage_message(r).find("--frames " + std::to_string(bad) + ": must be of the form 4k+1"),
              std::string::npos)
        << bad;
  }
}

TEST(Request, SizesMustBeMultiplesOf16) {
  GenerationRequest r = with_prompt();
  r.width = 832;
  r.height = 480;
  EXPECT_EQ(usage_message(r), "");
  r.width = 100;
  EXPECT_EQ(usage_message(r), "--width 100: must be a multiple of 16 between 16 and 4096 (e.g. 96 or 112)");
  r.width = 64;
  r.height = 0;
  EXPECT_NE(usage_message(r).find("--height 0"), std::string::npos);
}

TEST(Request, SamplerStepsGuidanceShiftFps) {
  GenerationRequest r = with_prompt();
  r.sampler = "ddim";
  EXPECT_EQ(usage_message(r), "--sampler 'ddim': expected unipc, dpm++ or euler");
  r.sampler = "dpm++";
  r.steps = 0;
  EXPECT_NE(usage_message(r).find("--steps 0"), std::string::npos);
  r.steps = 4;
  r.guidance = -1;
  EXPECT_NE(usage_message(r).find("--guidance"), std::string::npos);
  r.guidance = 5;
  r.shift = 0;
  EXPECT_NE(usage_message(r).find("--shift"), std::string::npos);
  r.shift = 3;
  r.fps = 0;
  EXPECT_NE(usage_message(r).find("--fps"), std::string::npos);
  r.fps = 24;
  EXPECT_EQ(usage_message(r), "");
}

TEST(Request, ResolveTakesDefaultsForUnsetFields) {
  GenerationDefaults defaults;
  defaults.frames = 17;
  defaults.width = 64;
  defaults.negative_prompt = "blurry";
  GenerationRequest r = with_prompt();
  r.height = 32;
  r.seed = 42;
  const ResolvedRequest resolved = resolve_request(r, defaults);
  EXPECT_EQ(resolved.frames, 17);
  EXPECT_EQ(resolved.width, 64);
  EXPECT_EQ(resolved.height, 32);
  EXPECT_EQ(resolved.negative_prompt, "blurry");
  EXPECT_EQ(resolved.sampler, "unipc");
  EXPECT_EQ(resolved.seed, 42u);
}

TEST(Request, RandomSeedsDiffer) {
  const GenerationRequest r = with_prompt();
  const GenerationDefaults defaults;
  std::uint64_t first = resolve_request(r, defaults).seed;
  bool differs = false;
  for (int i = 0; i < 8 && !differs; ++i) differs = resolve_request(r, defaults).seed != first;
  EXPECT_TRUE(differs);
}

}  // namespace
}  // namespace soragen
