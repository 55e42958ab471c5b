// The tiny TAEHV-design decoder: its blocks on hand-computed values, the
// frame count and trim of the Wan time layout, the causal order of the
// streamed decode, and loading checkpoints with the public files' names and
// shapes (taew2_1, taew2_2).
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>

#include <vector>

#include "expect_throw.h"
#include "io/safetensors_writer.h"
#include "io/tensor_source.h"
#include "soragen/error.h"
#include "test_util.h"
#include "tiny_decoder_test_util.h"
#include "vae/tiny_decoder.h"

namespace soragen::vae {
namespace {

// A small decoder with seeded random weights (the biases too, so that no
// layer is trivially zero).
TinyDecoder random_decoder(const TinyDecoderConfig& config, std::uint64_t seed) {
  test::TaehvShape shape;
  shape.latent_channels = config.latent_channels;
  shape.widths = config.widths;
  shape.patch = config.patch_size;
  shape.encoder = false;
  shape.dtype = at::kFloat;
  shape.seed = seed;
  shape.doubled_first_tgrow = config.time_upscale[0];
  std::map<std::string, at::Tensor> tensors = test::taehv_tensors(shape);
  // taehv_tensors doubles stages 1 and 2 (Wan's time upscale): a config
  // without it there reads their last rows.
  io::MemorySource source("random-tiny-decoder", std::move(tensors));
  return load_tiny_decoder(source, config, Logger());
}

TinyDecoderConfig small_config() {
  TinyDecoderConfig config;
  config.latent_channels = 3;
  config.widths = {6, 5, 4, 4};
  return config;
}

void set(torch::nn::Module& module, const std::string& name, const at::Tensor& value) {
  at::NoGradGuard no_grad;
  module.named_parameters()[name].copy_(value);
}

// One channel, 1x1 frames: each 3x3 conv reduces to its centre tap.
at::Tensor centre(std::vector<float> taps) {
  const int64_t in = static_cast<int64_t>(taps.size());
  at::Tensor w = at::zeros({1, in, 3, 3});
  for (int64_t c = 0; c < in; ++c) w[0][c][1][1] = taps[static_cast<size_t>(c)];
  return w;
}

TEST(TinyDecoder, MemBlockIsReluOfConvOfInputAndPastPlusInput) {
  TinyMemBlock block(1);
  set(*block, "conv.0.weight", centre({1.0f, 2.0f}));  // x + 2 past
  set(*block, "conv.0.bias", at::full({1}, 0.5));
  set(*block, "conv.2.weight", centre({1.0f}));
  set(*block, "conv.2.bias", at::zeros({1}));
  set(*block, "conv.4.weight", centre({1.0f}));
  set(*block, "conv.4.bias", at::full({1}, -1.0));
  c10::InferenceMode inference;
  const auto value = [&](float x, float past) {
    return block->forward(at::full({1, 1, 1, 1}, x), at::full({1, 1, 1, 1}, past)).item<float>();
  };
  // relu(2 + 2*0.5 + 0.5) = 3.5 -> 3.5 -> 3.5 - 1 = 2.5; relu(2.5 + 2) = 4.5
  EXPECT_FLOAT_EQ(value(2.0f, 0.5f), 4.5f);
  // relu(-3 + 0.5) = 0 -> 0 -> -1; relu(-1 - 3) = 0
  EXPECT_FLOAT_EQ(value(-3.0f, 0.0f), 0.0f);
  // The past enters conv.0 only: relu(1 + 2*3 + 0.5) = 7.5 -> 6.5; relu(6.5 + 1) = 7.5
  EXPECT_FLOAT_EQ(value(1.0f, 3.0f), 7.5f);
}

TEST(TinyDecoder, TGrowReadsItsChannelsAsConsecutiveFrames) {
  TinyTGrow grow(2, 2);
  ASSERT_EQ(grow->named_parameters()["conv.weight"].sizes(), (std::vector<int64_t>{4, 2, 1, 1}));
  set(*grow, "conv.weight", at::tensor({1.0f, 0.0f, 0.0f, 1.0f, 2.0f, 0.0f, 0.0f, -1.0f}).view({4, 2, 1, 1}));
  c10::InferenceMode inference;
  // Two samples [3, 5] and [1, 2]: the rows give [3, 5, 6, -5] and [1, 2, 2, -2],
  // channels 0-1 the earlier frame, 2-3 the later one.
  const std::vector<at::Tensor> frames = grow->frames(at::tensor({3.0f, 5.0f, 1.0f, 2.0f}).view({2, 2, 1, 1}));
  ASSERT_EQ(frames.size(), 2u);
  ASSERT_EQ(frames[0].sizes(), (std::vector<int64_t>{2, 2, 1, 1}));
  EXPECT_TRUE(at::equal(frames[0].flatten(), at::tensor({3.0f, 5.0f, 1.0f, 2.0f})));
  EXPECT_TRUE(at::equal(frames[1].flatten(), at::tensor({6.0f, -5.0f, 2.0f, -2.0f})));
  TinyTGrow single(2, 1);
  EXPECT_EQ(single->frames(at::ones({1, 2, 1, 1})).size(), 1u);
}

TEST(TinyDecoder, MakesTheWanVaesFrameCountAndSize) {
  const TinyDecoderConfig config = small_config();
  TinyDecoder decoder = random_decoder(config, 3);
  c10::InferenceMode inference;
  for (const int64_t latents : {1, 2, 5}) {
    const at::Tensor z = at::randn({1, config.latent_channels, latents, 2, 3});
    const at::Tensor video = decoder->decode(z);
    EXPECT_EQ(video.sizes(), (std::vector<int64_t>{1, 3, 4 * (latents - 1) + 1, 16, 24})) << latents;
    EXPECT_EQ(config.frames_for_latents(latents), 4 * (latents - 1) + 1);
    EXPECT_GE(video.min().item<float>(), 0.0f);
    EXPECT_LE(video.max().item<float>(), 1.0f);
  }
  // 4x spatial (no upscale in stage 0) and 2x in time.
  TinyDecoderConfig other = small_config();
  other.space_upscale = {false, true, true};
  other.time_upscale = {false, false, true};
  TinyDecoder narrow = random_decoder(other, 4);
  EXPECT_EQ(narrow->decode(at::randn({1, 3, 3, 2, 2})).sizes(), (std::vector<int64_t>{1, 3, 5, 8, 8}));
}

TEST(TinyDecoder, TrimDropsTheFramesBeforeTheFirstLatentsOwn) {
  // Time upscale in the last stage only: each latent makes two frames, the
  // first from TGrow's first C rows. With those rows zero that frame is the
  // last conv's bias alone (a flat frame); the dropped frame is latent 0's
  // first, so the output alternates real, flat, real, ...
  TinyDecoderConfig config = small_config();
  config.time_upscale = {false, false, true};
  TinyDecoder decoder = random_decoder(config, 5);
  {
    at::NoGradGuard no_grad;
    at::Tensor grow = decoder->named_parameters()["decoder.19.conv.weight"];
    grow.narrow(0, 0, config.widths[2]).zero_();
  }
  c10::InferenceMode inference;
  const at::Tensor video = decoder->decode(at::randn({1, 3, 3, 3, 3}));
  ASSERT_EQ(video.size(2), 5);
  const auto flat = [&](int64_t frame) {
    const at::Tensor f = video.select(2, frame);
    return at::equal(f, f.narrow(2, 0, 1).narrow(3, 0, 1).expand_as(f));
  };
  EXPECT_FALSE(flat(0));
  EXPECT_TRUE(flat(1));
  EXPECT_FALSE(flat(2));
  EXPECT_TRUE(flat(3));
  EXPECT_FALSE(flat(4));
}

TEST(TinyDecoder, FramesComeInOrderAndDependOnlyOnEarlierLatents) {
  TinyDecoderConfig config = small_config();
  config.patch_size = 2;
  TinyDecoder decoder = random_decoder(config, 6);
  c10::InferenceMode inference;
  const at::Tensor z = at::randn({2, config.latent_channels, 4, 3, 2}) * 2.0;
  std::vector<int64_t> indices;
  std::vector<at::Tensor> frames;
  decoder->decode_frames(z, [&](const at::Tensor& frame, int64_t index) {
    indices.push_back(index);
    frames.push_back(frame);
  });
  ASSERT_EQ(frames.size(), 13u);
  for (size_t i = 0; i < frames.size(); ++i) EXPECT_EQ(indices[i], static_cast<int64_t>(i));
  const at::Tensor whole = decoder->decode(z);
  ASSERT_EQ(whole.sizes(), (std::vector<int64_t>{2, 3, 13, 48, 32}));  // a 2x2 pixel shuffle on 8x
  EXPECT_TRUE(at::equal(at::stack(frames, 2), whole));
  // Causal: the first two latents' five frames are the same without the
  // later latents; and a MemBlock's memory does reach later frames.
  EXPECT_TRUE(at::equal(decoder->decode(z.narrow(2, 0, 2)), whole.narrow(2, 0, 5)));
  EXPECT_FALSE(at::equal(decoder->decode(z.narrow(2, 3, 1)), whole.narrow(2, 12, 1)));
}

TEST(TinyDecoder, DecodeIsDifferentiableAndUnclampedOnRequest) {
  TinyDecoder decoder = random_decoder(small_config(), 7);
  const at::Tensor z = at::randn({1, 3, 2, 2, 2}) * 5.0;
  const at::Tensor raw = decoder->decode(z, /*clamp=*/false);
  raw.pow(2).mean().backward();
  const at::Tensor grad = decoder->named_parameters()["decoder.3.conv.0.weight"].grad();
  ASSERT_TRUE(grad.defined());
  EXPECT_GT(grad.abs().sum().item<double>(), 0.0);
  EXPECT_TRUE(raw.min().item<double>() < 0.0 || raw.max().item<double>() > 1.0);
  EXPECT_TRUE(at::equal(decoder->decode(z).detach(), raw.detach().clamp(0.0, 1.0)));
}

class TaehvFiles : public ::testing::Test {
 protected:
  std::filesystem::path write(const std::string& name, const test::TaehvShape& shape) {
    const std::filesystem::path path = dir_ / name;
    io::save_safetensors(path, test::taehv_tensors(shape));
    return path;
  }
  soragen::test::TempDir dir_;
};

TEST_F(TaehvFiles, Taew21LoadsWithItsEncoderIgnoredAndTheDoubledTGrowTrimmed) {
  const test::TaehvShape shape;  // taew2_1: 16 channels, widths 256 128 64 64, patch 1
  const std::filesystem::path path = write("taew2_1.safetensors", shape);
  const auto source = io::open_weights(path);
  ASSERT_TRUE(is_tiny_decoder(*source));
  const TinyDecoderConfig config = detect_tiny_decoder(*source);
  EXPECT_EQ(config.latent_channels, 16);
  EXPECT_EQ(config.widths, (std::array<int64_t, 4>{256, 128, 64, 64}));
  EXPECT_EQ(config.patch_size, 1);
  EXPECT_EQ(config.spatial_factor(), 8);
  EXPECT_EQ(config.temporal_factor(), 4);
  // Strict: anything unexpected but the encoder would be an error; nothing is warned.
  std::vector<std::string> warnings;
  const Logger log([&](LogLevel level, const std::string& m) { if (level >= LogLevel::warning) warnings.push_back(m); });
  TinyDecoderLoadOptions options;
  options.strict_weights = true;
  options.dtype = at::kFloat;
  TinyDecoder decoder = load_tiny_decoder(*source, config, log, options);
  EXPECT_TRUE(warnings.empty()) << warnings.front();
  const at::Tensor stored = source->load("decoder.7.conv.weight");
  ASSERT_EQ(stored.size(0), 512);
  const at::Tensor loaded = decoder->named_parameters()["decoder.7.conv.weight"];
  EXPECT_EQ(loaded.sizes(), (std::vector<int64_t>{256, 256, 1, 1}));
  EXPECT_EQ(loaded.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(loaded, stored.narrow(0, 256, 256).to(at::kFloat)));  // the last 256 rows
  EXPECT_TRUE(at::equal(decoder->named_parameters()["decoder.13.conv.weight"],
                        source->load("decoder.13.conv.weight").to(at::kFloat)));
  c10::InferenceMode inference;
  EXPECT_EQ(decoder->decode(at::randn({1, 16, 3, 3, 4})).sizes(), (std::vector<int64_t>{1, 3, 9, 24, 32}));
}

TEST_F(TaehvFiles, Taew22IsToldByItsShapesNotItsName) {
  test::TaehvShape shape;
  shape.latent_channels = 48;
  shape.patch = 2;
  const auto source = io::open_weights(write("decoder.safetensors", shape));
  const TinyDecoderConfig config = detect_tiny_decoder(*source);
  EXPECT_EQ(config.latent_channels, 48);
  EXPECT_EQ(config.patch_size, 2);
  EXPECT_EQ(config.spatial_factor(), 16);
  TinyDecoder decoder = load_tiny_decoder(*source, config, Logger());
  c10::InferenceMode inference;
  EXPECT_EQ(decoder->decode(at::randn({1, 48, 1, 2, 2})).sizes(), (std::vector<int64_t>{1, 3, 1, 32, 32}));
}

TEST_F(TaehvFiles, WhatIsNotATinyDecoderIsOneErrorNamingTheFile) {
  test::TaehvShape shape;
  shape.latent_channels = 4;
  shape.widths = {4, 4, 4, 4};
  std::map<std::string, at::Tensor> tensors = test::taehv_tensors(shape);
  tensors.erase("decoder.22.weight");
  const std::filesystem::path path = dir_ / "broken.safetensors";
  io::save_safetensors(path, tensors);
  const auto source = io::open_weights(path);
  EXPECT_FALSE(is_tiny_decoder(*source));
  SORAGEN_EXPECT_THROW_MESSAGE(detect_tiny_decoder(*source), ModelError,
                               "broken.safetensors': not a TAEHV tiny decoder: no tensor 'decoder.22.weight'", true);
  // A config that does not fit the weights names the number that differs.
  TinyDecoderConfig config;
  config.latent_channels = 4;
  config.widths = {4, 4, 4, 8};
  tensors = test::taehv_tensors(shape);
  io::MemorySource whole(dir_ / "whole.safetensors", tensors);
  SORAGEN_EXPECT_THROW_MESSAGE(check_tiny_decoder_config(config, whole), ModelError,
                               "config says widths [4,4,4,8], its weights have [4,4,4,4]", true);
  // A TGrow conv with fewer rows than the config's stride needs is a shape error.
  config.widths = {4, 4, 4, 4};
  config.time_upscale = {true, true, true};
  tensors = test::taehv_tensors([&] {
    test::TaehvShape single = shape;
    single.doubled_first_tgrow = false;
    return single;
  }());
  io::MemorySource single(dir_ / "single.safetensors", tensors);
  SORAGEN_EXPECT_THROW_MESSAGE(load_tiny_decoder(single, config, Logger()), ModelError,
                               "tensor 'decoder.7.conv.weight' has shape [4,4,1,1], expected [8,4,1,1]", true);
}

TEST(TinyDecoderConfig, JsonRoundTripAndRules) {
  TinyDecoderConfig config;
  config.latent_channels = 16;
  config.widths = {32, 24, 16, 16};
  config.space_upscale = {false, true, true};
  const TinyDecoderConfig back = TinyDecoderConfig::from_json(config.to_json(), "test");
  EXPECT_EQ(back.to_json(), config.to_json());
  EXPECT_EQ(back.spatial_factor(), 4);
  nlohmann::json bad = config.to_json();
  bad["time_upscale"] = {false, false, false};
  SORAGEN_EXPECT_THROW_MESSAGE(TinyDecoderConfig::from_json(bad, "model file 'm.json' preview_decoder.config"),
                               ModelError, "m.json' preview_decoder.config: time_upscale needs at least one true", true);
  bad = config.to_json();
  bad["widths"] = {32, 24, 16};
  EXPECT_THROW(TinyDecoderConfig::from_json(bad, "x"), ModelError);
}

}  // namespace
}  // namespace soragen::vae
