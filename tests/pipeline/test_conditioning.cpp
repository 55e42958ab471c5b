// The Wan2.2 conditioning pieces on cases the golden files do not reach: a
// last frame, a token count below seq_len, budgets too small for a frame.
#include <gtest/gtest.h>

#include "expect_throw.h"
#include "pipeline/conditioning.h"
#include "soragen/error.h"

namespace soragen::pipeline {
namespace {

const at::TensorOptions kFloat = at::TensorOptions().dtype(at::kFloat);

TEST(Conditioning, I2vMaskMarksTheGivenFrames) {
  // 9 frames -> 3 latent frames; the first latent frame stands for frame 0 alone.
  const at::Tensor first_only = i2v_mask(9, 2, 3, /*last_frame=*/false, kFloat);
  ASSERT_EQ(first_only.sizes(), (std::vector<int64_t>{4, 3, 2, 3}));
  EXPECT_TRUE(first_only.select(1, 0).eq(1).all().item<bool>());
  EXPECT_TRUE(first_only.narrow(1, 1, 2).eq(0).all().item<bool>());
  // With a last frame, frame 8 is the last of latent frame 2's four: only
  // the mask's channel 3 of that latent frame is 1.
  const at::Tensor both = i2v_mask(9, 2, 3, /*last_frame=*/true, kFloat);
  EXPECT_TRUE(both.select(1, 0).eq(1).all().item<bool>());
  EXPECT_TRUE(both.select(1, 1).eq(0).all().item<bool>());
  EXPECT_TRUE(both.select(1, 2).narrow(0, 0, 3).eq(0).all().item<bool>());
  EXPECT_TRUE(both.select(1, 2).select(0, 3).eq(1).all().item<bool>());
}

TEST(Conditioning, I2vVideoPutsTheImagesAtBothEnds) {
  const at::Tensor first = at::full({3, 1, 8, 8}, 0.5, kFloat);
  const at::Tensor last = at::full({3, 1, 8, 8}, -0.25, kFloat);
  const at::Tensor video = i2v_condition_video(first, last, 9);
  ASSERT_EQ(video.sizes(), (std::vector<int64_t>{3, 9, 8, 8}));
  EXPECT_TRUE(video.select(1, 0).eq(0.5).all().item<bool>());
  EXPECT_TRUE(video.narrow(1, 1, 7).eq(0).all().item<bool>());
  EXPECT_TRUE(video.select(1, 8).eq(-0.25).all().item<bool>());
  EXPECT_EQ(i2v_condition_video(first, std::nullopt, 9).narrow(1, 1, 8).abs().sum().item<float>(), 0.0f);
}

TEST(Conditioning, I2vLatentSizeFollowsTheReference) {
  // image2video.py's arithmetic for the golden case: a 60x40 image in 1600
  // pixels gives a 6x4 grid of 8-pixel latents (48x32 pixels).
  EXPECT_EQ(i2v_latent_size(40, 60, 1600, 8, 2), std::make_pair(int64_t{4}, int64_t{6}));
  // 832x480 and a 16:9 image: the real budget.
  const auto [h, w] = i2v_latent_size(1080, 1920, 832 * 480, 8, 2);
  EXPECT_EQ(h % 2, 0);
  EXPECT_EQ(w % 2, 0);
  EXPECT_LE(h * 8 * w * 8, 832 * 480);
  SORAGEN_EXPECT_THROW_MESSAGE(i2v_latent_size(40, 60, 100, 8, 2), UsageError, "gives an empty latent grid", true);
}

TEST(Conditioning, PerTokenTimestepsPadWithT) {
  const at::Tensor mask = first_frame_mask({4, 2, 4, 4}, /*hold_first_frame=*/true, kFloat);
  const at::Tensor t = at::full({1}, 500.0, kFloat);
  // 2 frames of 2x2 tokens: 4 at t = 0, 4 at t, then padding at t.
  const at::Tensor tokens = per_token_timesteps(mask, t, 2, 2, 10);
  ASSERT_EQ(tokens.sizes(), (std::vector<int64_t>{1, 10}));
  EXPECT_TRUE(tokens.narrow(1, 0, 4).eq(0).all().item<bool>());
  EXPECT_TRUE(tokens.narrow(1, 4, 6).eq(500).all().item<bool>());
  EXPECT_THROW(per_token_timesteps(mask, t, 2, 2, 7), InternalError);
}

TEST(Conditioning, HoldingTheFirstFrameKeepsItExactly) {
  const at::Tensor latent = at::randn({4, 3, 2, 2});
  const at::Tensor first = at::randn({4, 1, 2, 2});
  const at::Tensor mask = first_frame_mask({4, 3, 2, 2}, true, kFloat);
  const at::Tensor held = hold_first_frame(latent, first, mask);
  EXPECT_TRUE(held.select(1, 0).equal(first.select(1, 0)));
  EXPECT_TRUE(held.narrow(1, 1, 2).equal(latent.narrow(1, 1, 2)));
}

}  // namespace
}  // namespace soragen::pipeline
