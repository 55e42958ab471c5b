// check_request_for_model: what a request may ask of a model, checked before
// any weight loads, for each kind of model soragen runs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "expect_throw.h"
#include "soragen/error.h"
#include "soragen/options.h"
#include "soragen/pipeline.h"
#include "test_util.h"

namespace soragen {
namespace {

ModelInputs text_to_video() { return ModelInputs{}; }

ModelInputs ti2v() {
  ModelInputs inputs;
  inputs.kind = "ti2v";
  inputs.image = true;
  inputs.vae_tile = false;
  inputs.vae_stride = 16;
  inputs.size_multiple = 32;
  return inputs;
}

ModelInputs i2v_a14b() {
  ModelInputs inputs;
  inputs.kind = "i2v";
  inputs.image = true;
  inputs.needs_image = true;
  inputs.last_image = true;
  inputs.two_experts = true;
  return inputs;
}

std::string image_path() { return (test::data_dir() / "images" / "pattern.png").string(); }

struct Case {
  GenerationRequest asked;
  ResolvedRequest resolved;
};

Case request(int width = 832, int height = 480) {
  Case c;
  c.asked.prompt = "a red ball";
  c.resolved = resolve_request(c.asked, GenerationDefaults{});
  c.resolved.width = width;
  c.resolved.height = height;
  return c;
}

TEST(RequestForModel, ATextModelTakesNoImage) {
  Case c = request();
  EXPECT_NO_THROW(check_request_for_model(c.asked, c.resolved, text_to_video()));
  c.resolved.image = image_path();
  SORAGEN_EXPECT_THROW_MESSAGE(check_request_for_model(c.asked, c.resolved, text_to_video()), UsageError,
                               "--image '" + image_path() + "': this text-to-video model takes no image", true);
}

TEST(RequestForModel, LastImageNeedsAFirstImageAndAModelThatTakesOne) {
  Case c = request();
  c.resolved.last_image = image_path();
  SORAGEN_EXPECT_THROW_MESSAGE(check_request_for_model(c.asked, c.resolved, ti2v()), UsageError,
                               "--last-image '" + image_path() + "': needs --image too", true);
  c.resolved.image = image_path();
  SORAGEN_EXPECT_THROW_MESSAGE(check_request_for_model(c.asked, c.resolved, ti2v()), UsageError,
                               "takes a first frame only", true);
  EXPECT_NO_THROW(check_request_for_model(c.asked, c.resolved, i2v_a14b()));
  c.resolved.frames = 1;
  SORAGEN_EXPECT_THROW_MESSAGE(check_request_for_model(c.asked, c.resolved, i2v_a14b()), UsageError,
                               "--frames 1: a first-and-last-frame video needs at least 5 frames", true);
}

TEST(RequestForModel, I2vNeedsAnImage) {
  Case c = request();
  SORAGEN_EXPECT_THROW_MESSAGE(check_request_for_model(c.asked, c.resolved, i2v_a14b()), UsageError,
                               "--image: required", true);
}

TEST(RequestForModel, GuidanceHighNeedsTwoExperts) {
  Case c = request();
  c.asked.guidance_high = 4.0;
  SORAGEN_EXPECT_THROW_MESSAGE(check_request_for_model(c.asked, c.resolved, ti2v()), UsageError,
                               "--guidance-high 4", true);
  c.resolved.image = image_path();
  EXPECT_NO_THROW(check_request_for_model(c.asked, c.resolved, i2v_a14b()));
}

TEST(RequestForModel, SizesFollowTheModelsVaeAndPatch) {
  // 16 pixels per token for the Wan2.1 VAE, 32 for the Wan2.2 VAE's 16x.
  Case c = request(848, 480);
  EXPECT_NO_THROW(check_request_for_model(c.asked, c.resolved, text_to_video()));
  SORAGEN_EXPECT_THROW_MESSAGE(check_request_for_model(c.asked, c.resolved, ti2v()), UsageError,
                               "--width/--height 848x480: this ti2v model needs multiples of 32 (e.g. 832x480)", true);
  c = request(1280, 704);
  EXPECT_NO_THROW(check_request_for_model(c.asked, c.resolved, ti2v()));
  // With an image the size is a pixel budget: the frame follows the image.
  c = request(848, 480);
  c.resolved.image = image_path();
  EXPECT_NO_THROW(check_request_for_model(c.asked, c.resolved, ti2v()));
}

TEST(RequestForModel, ABudgetTooSmallForTheImageFailsBeforeLoading) {
  // pattern.png within 16x16 pixels: no 32-pixel block for TI2V, an empty
  // latent grid for I2V-A14B.
  Case c = request(16, 16);
  c.resolved.image = image_path();
  SORAGEN_EXPECT_THROW_MESSAGE(check_request_for_model(c.asked, c.resolved, ti2v()), UsageError,
                               "--image '" + image_path() + "' in --width x --height 16x16: ", true);
  SORAGEN_EXPECT_THROW_MESSAGE(check_request_for_model(c.asked, c.resolved, i2v_a14b()), UsageError,
                               "--image '" + image_path() + "' in --width x --height 16x16: ", true);
}

TEST(RequestForModel, TheWan22VaeHasNoTiledDecode) {
  Case c = request(1280, 704);
  SORAGEN_EXPECT_THROW_MESSAGE(check_request_for_model(c.asked, c.resolved, ti2v(), /*vae_tile=*/true), UsageError,
                               "--vae-tile", true);
  EXPECT_NO_THROW(check_request_for_model(c.asked, c.resolved, text_to_video(), /*vae_tile=*/true));
}

TEST(RequestForModel, MissingOrCorruptImagesFailBeforeLoading) {
  const test::TempDir dir;
  const std::filesystem::path corrupt = dir.path() / "broken.png";
  {
    std::ofstream out(corrupt, std::ios::binary);
    out << "\x89PNG\r\n\x1a\n not really a png";
  }
  Case c = request();
  c.resolved.image = (dir.path() / "absent.png").string();
  SORAGEN_EXPECT_THROW_MESSAGE(check_request_for_model(c.asked, c.resolved, ti2v()), UsageError,
                               "--image '" + c.resolved.image + "'", true);
  c.resolved.image = corrupt.string();
  SORAGEN_EXPECT_THROW_MESSAGE(check_request_for_model(c.asked, c.resolved, ti2v()), UsageError,
                               "--image '" + corrupt.string() + "'", true);
  c.resolved.image = image_path();
  c.resolved.last_image = corrupt.string();
  SORAGEN_EXPECT_THROW_MESSAGE(check_request_for_model(c.asked, c.resolved, i2v_a14b()), UsageError,
                               "--last-image '" + corrupt.string() + "'", true);
}

TEST(RequestForModel, GuidanceAloneSetsBothExperts) {
  GenerationRequest asked;
  asked.prompt = "a red ball";
  GenerationDefaults defaults;
  defaults.guidance = 3.0;
  defaults.guidance_high = 4.0;
  EXPECT_EQ(resolve_request(asked, defaults).guidance_high, 4.0);
  asked.guidance = 6.0;
  EXPECT_EQ(resolve_request(asked, defaults).guidance_high, 6.0) << "the reference's plain float serves both";
  asked.guidance_high = 2.0;
  EXPECT_EQ(resolve_request(asked, defaults).guidance_high, 2.0);
  EXPECT_EQ(resolve_request(asked, defaults).guidance, 6.0);
}

}  // namespace
}  // namespace soragen
