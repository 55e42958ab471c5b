// Unit tests of the VAE pieces: causal conv streaming, RMS norm, tiling
// geometry and blending, uint8 conversion, the streaming decode API and the
// flat memory of the feature cache.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cmath>
#include <cstring>
#include <iostream>
#include <vector>

#include "soragen/error.h"
#include "vae/frames.h"
#include "vae/modules.h"
#include "vae/tiling.h"
#include "vae_test_util.h"

namespace soragen::vae {
namespace {

TEST(vae_modules, causal_conv_streamed_equals_one_pass) {
  at::manual_seed(1);
  SlotCounter slots;
  CausalConv3d conv(4, 6, std::array<int64_t, 3>{3, 3, 3}, std::array<int64_t, 3>{1, 1, 1},
                    std::array<int64_t, 3>{1, 1, 1}, &slots);
  const at::Tensor x = at::randn({1, 4, 9, 5, 7});
  c10::InferenceMode inference;
  // One pass with zero history on the past side only: output frame t sees t-2..t.
  const at::Tensor whole = conv->forward(x);
  ASSERT_EQ(whole.sizes(), (std::vector<int64_t>{1, 6, 9, 5, 7}));
  const at::Tensor padded = at::constant_pad_nd(x, {1, 1, 1, 1, 2, 0});
  const at::Tensor manual = at::conv3d(padded, conv->weight, conv->bias);
  EXPECT_TRUE(at::allclose(whole, manual, 1e-5, 1e-6));
  // Chunks 1, 4, 1, 3 with the cache give the same frames.
  FeatureCache cache(slots.next);
  std::vector<at::Tensor> parts;
  int64_t start = 0;
  for (int64_t size : {1, 4, 1, 3}) {
    parts.push_back(conv->forward(x.narrow(2, start, size), cache));
    start += size;
  }
  EXPECT_TRUE(at::allclose(at::cat(parts, 2), whole, 1e-5, 1e-6));
  EXPECT_EQ(cache.at(0).tail.size(2), 2);
}

TEST(vae_modules, rms_norm_is_l2_normalize_times_sqrt_c_gamma) {
  at::manual_seed(2);
  RMSNorm norm(8, /*images=*/false);
  ASSERT_EQ(norm->gamma.sizes(), (std::vector<int64_t>{8, 1, 1, 1}));
  const at::Tensor gamma = at::rand({8, 1, 1, 1}) + 0.5;
  {
    at::NoGradGuard no_grad;
    norm->gamma.copy_(gamma);
  }
  c10::InferenceMode inference;
  const at::Tensor x = at::randn({2, 8, 3, 4, 4});
  const at::Tensor expected = x / x.pow(2).sum(1, true).sqrt() * std::sqrt(8.0) * gamma;
  EXPECT_TRUE(at::allclose(norm->forward(x), expected, 1e-5, 1e-6));
  // F.normalize's eps keeps an all-zero pixel at zero (no NaN from 0/0).
  const at::Tensor zero = norm->forward(at::zeros({1, 8, 1, 2, 2}));
  EXPECT_EQ(zero.abs().max().item<float>(), 0.0f);
  EXPECT_EQ(RMSNorm(8, /*images=*/true)->gamma.sizes(), (std::vector<int64_t>{8, 1, 1}));
}

TEST(vae_tiling, spans_cover_with_the_overlap_and_ramps_sum_to_one) {
  EXPECT_EQ(tile_spans(10, 16, 4).size(), 1u);
  for (int64_t length : {17, 28, 29, 33, 40, 60, 90, 104, 160}) {
    const auto spans = tile_spans(length, 16, 4);
    EXPECT_EQ(spans.front().begin, 0);
    EXPECT_EQ(spans.back().end, length);
    bool three_way = false;
    at::Tensor sum = at::zeros({length * 8});
    for (size_t i = 0; i < spans.size(); ++i) {
      EXPECT_EQ(spans[i].size(), 16);
      if (i > 0) {
        EXPECT_GE(spans[i - 1].end - spans[i].begin, 4) << "overlap below the requested one";
      }
      if (i > 1 && spans[i - 2].end > spans[i].begin) three_way = true;
      sum.narrow(0, spans[i].begin * 8, spans[i].size() * 8).add_(axis_ramp(spans, i, 8));
    }
    // Where only two tiles meet, the ramps are a partition of unity by
    // themselves; the decode divides by the summed weights in any case.
    if (!three_way) {
      EXPECT_TRUE(at::allclose(sum, at::ones_like(sum), 0, 1e-6)) << "length " << length;
    }
  }
  EXPECT_EQ(tile_spans(28, 16, 4).size(), 2u);  // 16 + 12 = 28: two tiles suffice
  EXPECT_EQ(tile_spans(29, 16, 4).size(), 3u);
  EXPECT_THROW(tile_spans(40, 8, 8), std::invalid_argument);
}

TEST(vae_frames, rounding_is_half_even_of_x_plus_1_times_127_5) {
  // (x+1)*127.5 for these x is exact in float32: 0, 63.75, 127.5, 191.25, 255.
  const at::Tensor video = at::tensor({-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 3.0f, -2.0f, 0.25f}).view({1, 1, 1, 8}).expand({3, 1, 1, 8});
  const VideoFrames frames = to_video_frames(video);
  ASSERT_EQ(frames.count, 1);
  ASSERT_EQ(frames.width, 8);
  ASSERT_EQ(frames.height, 1);
  const std::vector<int> expected{0, 64, 128, 191, 255, 255, 0, 159};  // 159.375 -> 159
  for (int x = 0; x < 8; ++x) {
    for (int c = 0; c < 3; ++c) EXPECT_EQ(frames.rgb[static_cast<size_t>(x * 3 + c)], expected[x]) << "x " << x;
  }
}

TEST(vae_frames, layout_and_round_trip_of_all_levels) {
  VideoFrames frames(16, 8, 2);
  for (size_t i = 0; i < frames.rgb.size(); ++i) frames.rgb[i] = static_cast<uint8_t>((i * 7) % 256);
  const at::Tensor video = from_video_frames(frames);
  ASSERT_EQ(video.sizes(), (std::vector<int64_t>{3, 2, 8, 16}));
  EXPECT_LE(video.max().item<float>(), 1.0f);
  EXPECT_GE(video.min().item<float>(), -1.0f);
  // Pixel (frame 1, row 3, column 5), green: byte offset ((1*8+3)*16+5)*3+1.
  const size_t offset = ((1 * 8 + 3) * 16 + 5) * 3 + 1;
  EXPECT_FLOAT_EQ(video[1][1][3][5].item<float>(), frames.rgb[offset] / 127.5f - 1.0f);
  // Streaming: two appends give the same bytes as the round trip.
  VideoFrames back;
  append_video_frames(video.narrow(1, 0, 1), back);
  append_video_frames(video.narrow(1, 1, 1).unsqueeze(0), back);
  EXPECT_EQ(back.count, 2);
  EXPECT_EQ(back.rgb, frames.rgb);
  EXPECT_THROW(append_video_frames(at::zeros({3, 1, 8, 8}), back), std::invalid_argument);
}

TEST(vae_frames, a_range_of_frames_and_one_frame_back_to_bytes) {
  VideoFrames frames(6, 4, 3);
  for (size_t i = 0; i < frames.rgb.size(); ++i) frames.rgb[i] = static_cast<uint8_t>((i * 13) % 256);
  const at::Tensor all = from_video_frames(frames);
  const at::Tensor middle = from_video_frames(frames, 1, 2);
  ASSERT_EQ(middle.sizes(), (std::vector<int64_t>{3, 2, 4, 6}));
  EXPECT_TRUE(at::equal(middle, all.narrow(1, 1, 2)));
  // One frame [3, H, W] back to [H, W, 3] bytes: frame 2's own bytes.
  const at::Tensor last = to_channels_last_bytes(all.select(1, 2));
  ASSERT_EQ(last.sizes(), (std::vector<int64_t>{4, 6, 3}));
  EXPECT_EQ(std::memcmp(last.data_ptr<uint8_t>(), frames.frame(2), frames.frame_bytes()), 0);
  EXPECT_THROW(from_video_frames(frames, 2, 2), std::invalid_argument);
  EXPECT_THROW(from_video_frames(frames, -1, 1), std::invalid_argument);
}

TEST(vae_stream, decode_frames_delivers_1_then_4_frames_and_matches_decode) {
  WanVAE vae = test::tiny_vae();
  c10::InferenceMode inference;
  at::manual_seed(3);
  const at::Tensor z = at::randn({1, 16, 4, 2, 3});
  std::vector<int64_t> firsts, sizes;
  std::vector<at::Tensor> chunks;
  vae->decode_frames(z, [&](const at::Tensor& frames, int64_t first) {
    firsts.push_back(first);
    sizes.push_back(frames.size(2));
    chunks.push_back(frames);
  });
  EXPECT_EQ(firsts, (std::vector<int64_t>{0, 1, 5, 9}));
  EXPECT_EQ(sizes, (std::vector<int64_t>{1, 4, 4, 4}));
  const at::Tensor whole = vae->decode(z);
  ASSERT_EQ(whole.sizes(), (std::vector<int64_t>{1, 3, 13, 16, 24}));
  EXPECT_TRUE(at::equal(at::cat(chunks, 2), whole));
  EXPECT_LE(whole.abs().max().item<float>(), 1.0f);
}

// Training runs the VAE on batches: every sample must come out as it does
// alone (no reshape may mix the batch with time or channels); the bound
// allows float reassociation in batched convolutions (seen: 1.9e-5).
TEST(vae_stream, a_batch_encodes_and_decodes_like_its_samples_alone) {
  WanVAE vae = test::tiny_vae();
  c10::InferenceMode inference;
  at::manual_seed(4);
  const at::Tensor video = at::rand({3, 3, 5, 16, 16}).mul(2).sub(1);
  const at::Tensor z = vae->encode(video);
  const at::Tensor decoded = vae->decode(z);
  for (int64_t b = 0; b < 3; ++b) {
    const at::Tensor one = video.narrow(0, b, 1);
    EXPECT_LE((vae->encode(one) - z.narrow(0, b, 1)).abs().max().item<float>(), 1e-4f) << b;
    EXPECT_LE((vae->decode(z.narrow(0, b, 1)) - decoded.narrow(0, b, 1)).abs().max().item<float>(), 1e-4f) << b;
  }
}

TEST(vae_stream, feature_cache_memory_is_flat_in_the_frame_count) {
  const VaeConfig config = test::tiny_config();
  Decoder3d decoder(config);
  c10::InferenceMode inference;
  FeatureCache cache(decoder->cache_slots());
  std::vector<int64_t> bytes;
  for (int i = 0; i < 7; ++i) {
    decoder->forward(at::randn({1, config.z_dim, 1, 4, 4}), cache);
    bytes.push_back(cache.bytes());
  }
  // Tails are full (2 frames, or 1 for the time downsample) from the third latent frame on.
  for (size_t i = 2; i < bytes.size(); ++i) EXPECT_EQ(bytes[i], bytes[2]) << "after latent frame " << i;
  EXPECT_GT(bytes[2], 0);
}

TEST(vae_stream, rejects_bad_shapes) {
  WanVAE vae = test::tiny_vae();
  c10::InferenceMode inference;
  EXPECT_THROW(vae->encode(at::zeros({1, 3, 6, 16, 16})), InternalError);   // not 1+4k frames
  EXPECT_THROW(vae->encode(at::zeros({1, 3, 5, 12, 16})), InternalError);   // 12 not a multiple of 8
  EXPECT_THROW(vae->decode(at::zeros({1, 8, 2, 2, 2})), InternalError);     // wrong latent channels
}

// Makes the decoder local in latent space: every 3x3 spatial tap but the
// centre is zeroed and the middle attention's projection is zero (so the block
// is the identity). Output pixels of latent column j then depend on column j
// only, and tiling is exact up to float rounding.
void make_decoder_pixel_local(WanVAEImpl& vae) {
  at::NoGradGuard no_grad;
  for (auto& item : vae.named_parameters()) {
    const std::string& name = item.key();
    at::Tensor p = item.value();
    if (name.rfind("decoder.", 0) != 0) continue;
    if (name.find("middle.1.proj.") != std::string::npos) {
      p.zero_();
    } else if (p.dim() >= 4 && p.size(-1) == 3 && p.size(-2) == 3) {
      const at::Tensor centre = p.narrow(-2, 1, 1).narrow(-1, 1, 1).clone();
      p.zero_();
      p.narrow(-2, 1, 1).narrow(-1, 1, 1).copy_(centre);
    }
  }
}

TEST(vae_tiling, tiled_decode_of_a_pixel_local_decoder_is_exact) {
  WanVAE vae = test::tiny_vae();
  make_decoder_pixel_local(*vae);
  c10::InferenceMode inference;
  at::manual_seed(6);
  const at::Tensor z = at::randn({1, 16, 2, 11, 14});
  const at::Tensor untiled = vae->decode(z, DecodeOptions{false});
  for (const TileOptions tiling : {TileOptions{6, 2}, TileOptions{8, 5}}) {
    DecodeOptions options{false};
    options.tiling = tiling;
    const at::Tensor tiled = vae->decode(z, options);
    ASSERT_EQ(tiled.sizes(), untiled.sizes());
    EXPECT_LT((tiled - untiled).abs().max().item<double>(), 1e-5) << "tile " << tiling.tile << " overlap " << tiling.overlap;
  }
}

// With real (here: the tiny seeded) weights tiling is an approximation: the
// decoder's receptive field spans more latent pixels than any overlap and its
// middle attention sees the whole frame, so each tile decodes with less
// context. Measured on a 16x20 latent (128x160 pixels), 2 latent frames:
TEST(vae_tiling, tiled_decode_is_close_to_untiled) {
  WanVAE vae = test::tiny_vae();
  c10::InferenceMode inference;
  at::manual_seed(4);
  const at::Tensor z = at::randn({1, 16, 2, 16, 20});
  const at::Tensor untiled = vae->decode(z);
  struct Case {
    TileOptions tiling;
    double mean_bound;  // about 1.5x the measured mean |diff|
    double p99_bound;   // about 1.5x the measured 99th percentile
  };
  // Measured (values in [-1, 1]): 8/4: mean 0.082, p99 0.37, max 1.11;
  // 12/6: mean 0.038, p99 0.18, max 0.91. More context per tile, less error.
  for (const Case& c : {Case{TileOptions{8, 4}, 0.13, 0.55}, Case{TileOptions{12, 6}, 0.065, 0.30}}) {
    DecodeOptions options;
    options.tiling = c.tiling;
    const at::Tensor tiled = vae->decode(z, options);
    ASSERT_EQ(tiled.sizes(), untiled.sizes());
    const at::Tensor diff = (tiled - untiled).abs();
    const double mean = diff.mean().item<double>();
    const double p99 = at::quantile(diff.flatten(), 0.99).item<double>();
    std::cout << "  tile " << c.tiling.tile << " overlap " << c.tiling.overlap << ": max |diff| "
              << diff.max().item<double>() << ", mean " << mean << ", p99 " << p99 << "\n";
    EXPECT_LT(mean, c.mean_bound);
    EXPECT_LT(p99, c.p99_bound);
  }
}

}  // namespace
}  // namespace soragen::vae
