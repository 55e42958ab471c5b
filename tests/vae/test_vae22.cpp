// Unit tests of the Wan2.2 VAE pieces: the patchify channel order and its
// inverse, the AvgDown3D / DupUp3D shortcuts against element-by-element
// definitions (golden README, Wan2.2 traps 1 and 4), the config (the shipped
// full-size file and its checks), the module tree against the full-size key
// list, loading errors, and the streamed decode.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "golden_util.h"
#include "io/tensor_source.h"
#include "soragen/error.h"
#include "vae/patchify.h"
#include "vae/wan22_config.h"
#include "vae/wan22_modules.h"
#include "vae/wan22_vae.h"

namespace soragen::vae {
namespace {

std::filesystem::path tiny_path() { return soragen::test::data_dir() / "golden" / "wan22" / "wan22_vae.safetensors"; }

Vae22Config tiny_config() {
  soragen::test::GoldenFile golden(tiny_path());
  return Vae22Config::from_json(golden.config(), tiny_path().string());
}

// The weights of the tiny golden VAE (no input./output./debug. tensors).
std::map<std::string, at::Tensor> tiny_weights() {
  auto source = io::open_weights(tiny_path());
  std::map<std::string, at::Tensor> weights;
  for (const auto& name : source->names()) {
    if (name.rfind("input.", 0) == 0 || name.rfind("output.", 0) == 0 || name.rfind("debug.", 0) == 0) continue;
    weights[name] = source->load(name).clone();
  }
  return weights;
}

// x[b, c, t, h, w] = a distinct integer per element, so reorderings show.
at::Tensor counting(std::vector<int64_t> shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return at::arange(n, at::kFloat).reshape(shape);
}

TEST(vae22_patchify, channel_is_c4_plus_column_offset2_plus_row_offset) {
  const int64_t c = 3, t = 2, h = 4, w = 6;
  const at::Tensor x = counting({1, c, t, h, w});
  const at::Tensor p = patchify(x, 2);
  ASSERT_EQ(p.sizes(), (std::vector<int64_t>{1, 12, t, h / 2, w / 2}));
  for (int64_t ci = 0; ci < c; ++ci) {
    for (int64_t r = 0; r < 2; ++r) {      // column (w) offset: the middle index
      for (int64_t q = 0; q < 2; ++q) {    // row (h) offset: the fastest
        for (int64_t ti = 0; ti < t; ++ti) {
          for (int64_t y = 0; y < h / 2; ++y) {
            for (int64_t xx = 0; xx < w / 2; ++xx) {
              ASSERT_EQ(p[0][ci * 4 + r * 2 + q][ti][y][xx].item<float>(),
                        x[0][ci][ti][2 * y + q][2 * xx + r].item<float>())
                  << "c " << ci << " r " << r << " q " << q;
            }
          }
        }
      }
    }
  }
  EXPECT_TRUE(at::equal(unpatchify(p, 2), x));
  // The inverse holds the other way round too.
  const at::Tensor z = at::randn({2, 12, 3, 2, 5});
  EXPECT_TRUE(at::equal(patchify(unpatchify(z, 2), 2), z));
  EXPECT_THROW(patchify(at::zeros({1, 3, 1, 5, 4}), 2), InternalError);
}

TEST(vae22_shortcuts, avg_down_pads_time_in_front_and_averages_channel_groups) {
  const int64_t c = 2, out = 4, ft = 2, fs = 2, t = 3, h = 4, w = 2;
  const at::Tensor x = counting({1, c, t, h, w}) + 1;
  const at::Tensor y = avg_down_3d(x, out, ft, fs);
  // 3 frames pad to 4 with one zero frame in FRONT -> 2 output frames.
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{1, out, 2, h / 2, w / 2}));
  const at::Tensor padded = at::cat({at::zeros({1, c, 1, h, w}), x}, 2);
  const int64_t group = c * ft * fs * fs / out;
  for (int64_t o = 0; o < out; ++o) {
    for (int64_t ti = 0; ti < 2; ++ti) {
      for (int64_t yi = 0; yi < h / 2; ++yi) {
        for (int64_t xi = 0; xi < w / 2; ++xi) {
          double sum = 0;
          for (int64_t k = o * group; k < (o + 1) * group; ++k) {
            // folded channel k = c*8 + a*4 + b*2 + d: time, row, column offsets, C slowest.
            const int64_t ci = k / 8, a = (k / 4) % 2, b = (k / 2) % 2, d = k % 2;
            sum += padded[0][ci][ti * 2 + a][yi * 2 + b][xi * 2 + d].item<float>();
          }
          EXPECT_FLOAT_EQ(y[0][o][ti][yi][xi].item<float>(), static_cast<float>(sum / group));
        }
      }
    }
  }
  // The 1-frame first chunk is folded with a zero frame in front: with groups
  // of 4 (one time offset each), output channel 2c holds the zero frame and
  // 2c+1 the spatial average of channel c.
  const at::Tensor one = at::randn({1, 4, 1, 4, 4});
  const at::Tensor first = avg_down_3d(one, 8, 2, 2);
  EXPECT_EQ(first.slice(1, 0, 8, 2).abs().max().item<float>(), 0.0f);
  EXPECT_TRUE(at::allclose(first.slice(1, 1, 8, 2), avg_down_3d(one, 4, 1, 2), 1e-6, 1e-6));
  // Factor 1 with equal widths is the identity (the last encoder stage).
  EXPECT_TRUE(at::equal(avg_down_3d(one, 4, 1, 1), one));
}

TEST(vae22_shortcuts, dup_up_repeats_channels_into_time_and_space) {
  const int64_t c = 4, out = 2, ft = 2, fs = 2, t = 2, h = 2, w = 3;
  const at::Tensor x = counting({1, c, t, h, w});
  const at::Tensor y = dup_up_3d(x, out, ft, fs, /*first_chunk=*/false);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{1, out, t * ft, h * fs, w * fs}));
  const int64_t repeats = out * ft * fs * fs / c;
  for (int64_t o = 0; o < out; ++o) {
    for (int64_t a = 0; a < ft; ++a) {
      for (int64_t b = 0; b < fs; ++b) {
        for (int64_t d = 0; d < fs; ++d) {
          // repeated channel k' = o*8 + a*4 + b*2 + d comes from input channel k'/repeats.
          const int64_t source = (o * 8 + a * 4 + b * 2 + d) / repeats;
          for (int64_t ti = 0; ti < t; ++ti) {
            for (int64_t yi = 0; yi < h; ++yi) {
              for (int64_t xi = 0; xi < w; ++xi) {
                ASSERT_EQ(y[0][o][ti * ft + a][yi * fs + b][xi * fs + d].item<float>(),
                          x[0][source][ti][yi][xi].item<float>());
              }
            }
          }
        }
      }
    }
  }
  // The first chunk drops the first ft-1 frames.
  const at::Tensor first = dup_up_3d(x, out, ft, fs, /*first_chunk=*/true);
  EXPECT_TRUE(at::equal(first, y.narrow(2, ft - 1, t * ft - (ft - 1))));
  // Without a temporal factor nothing is dropped.
  EXPECT_TRUE(at::equal(dup_up_3d(x, out, 1, fs, true), dup_up_3d(x, out, 1, fs, false)));
}

TEST(vae22_config, shipped_full_size_config) {
  const Vae22Config config =
      Vae22Config::from_file(std::filesystem::path(SORAGEN_SOURCE_MODELS_DIR) / "configs" / "wan2.2-vae.json");
  EXPECT_EQ(config.common.dim, 160);
  EXPECT_EQ(config.dec_dim, 256);
  EXPECT_EQ(config.common.z_dim, 48);
  EXPECT_EQ(config.spatial_factor(), 16);
  EXPECT_EQ(config.temporal_factor(), 4);
  EXPECT_EQ(config.patch_channels(), 12);
  // The same 48 constants as the reference wrapper (the golden file carries them too).
  const Vae22Config tiny = tiny_config();
  EXPECT_EQ(config.common.latents_mean, tiny.common.latents_mean);
  EXPECT_EQ(config.common.latents_std, tiny.common.latents_std);
}

TEST(vae22_config, rejects_what_the_reference_cannot_build) {
  soragen::test::GoldenFile golden(tiny_path());
  const auto with = [&](const char* key, nlohmann::json value) {
    nlohmann::json json = golden.config();
    json[key] = std::move(value);
    return json;
  };
  EXPECT_THROW(Vae22Config::from_json(with("patch_size", 4), "x"), ModelError);
  EXPECT_THROW(Vae22Config::from_json(with("dec_dim", 0), "x"), ModelError);
  EXPECT_THROW(Vae22Config::from_json(with("attn_scales", {0.5}), "x"), ModelError);
  EXPECT_THROW(Vae22Config::from_json(with("latents_std", {1.0}), "x"), ModelError);
  EXPECT_THROW(Vae22Config::from_json(with("dim_mult", {1, 3, 4, 4}), "x"), ModelError);  // 2*8 % 6
  try {
    Vae22Config::from_json(with("dec_dim", "wide"), "config 'x.json'");
    FAIL() << "a string dec_dim was accepted";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("x.json"), std::string::npos) << e.what();
  }
}

TEST(vae22_model, full_size_module_tree_matches_the_checkpoint_keys) {
  // The full-size names and shapes of Wan2.2_VAE.pth (golden KEYS.md), spot-checked
  // where Wan2.2 differs from Wan2.1: nested stages, 12-channel ends, the decoder's own width.
  const Vae22Config config =
      Vae22Config::from_file(std::filesystem::path(SORAGEN_SOURCE_MODELS_DIR) / "configs" / "wan2.2-vae.json");
  WanVAE22 vae(config);
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& p : vae->named_parameters()) shapes[p.key()] = p.value().sizes().vec();
  const std::map<std::string, std::vector<int64_t>> expected{
      {"encoder.conv1.weight", {160, 12, 3, 3, 3}},
      {"encoder.downsamples.1.downsamples.0.shortcut.weight", {320, 160, 1, 1, 1}},
      {"encoder.downsamples.1.downsamples.2.time_conv.weight", {320, 320, 3, 1, 1}},
      {"encoder.downsamples.2.downsamples.2.resample.1.weight", {640, 640, 3, 3}},
      {"encoder.head.2.weight", {96, 640, 3, 3, 3}},
      {"conv1.weight", {96, 96, 1, 1, 1}},
      {"conv2.weight", {48, 48, 1, 1, 1}},
      {"decoder.conv1.weight", {1024, 48, 3, 3, 3}},
      {"decoder.middle.1.to_qkv.weight", {3072, 1024, 1, 1}},
      {"decoder.upsamples.0.upsamples.3.resample.1.weight", {1024, 1024, 3, 3}},
      {"decoder.upsamples.0.upsamples.3.time_conv.weight", {2048, 1024, 3, 1, 1}},
      {"decoder.upsamples.2.upsamples.0.shortcut.weight", {512, 1024, 1, 1, 1}},
      {"decoder.upsamples.3.upsamples.2.residual.6.weight", {256, 256, 3, 3, 3}},
      {"decoder.head.2.weight", {12, 256, 3, 3, 3}},
  };
  for (const auto& [name, shape] : expected) {
    ASSERT_TRUE(shapes.count(name)) << name;
    EXPECT_EQ(shapes[name], shape) << name;
  }
  EXPECT_FALSE(shapes.count("decoder.upsamples.3.upsamples.3.resample.1.weight"));  // the last stage keeps its size
  // Same count as the tiny golden file, which holds every reference tensor.
  EXPECT_EQ(shapes.size(), tiny_weights().size());
}

TEST(vae22_model, load_errors_name_the_file) {
  WanVAE22 vae(tiny_config());
  auto weights = tiny_weights();
  {
    io::MemorySource source("tiny-vae22", weights);
    EXPECT_NO_THROW(vae->load_weights(source, Logger{}));
  }
  const auto expect_model_error = [&](std::map<std::string, at::Tensor> tensors, const std::string& needle) {
    io::MemorySource source("broken-vae22.safetensors", std::move(tensors));
    try {
      vae->load_weights(source, Logger{});
      FAIL() << "loaded without error; expected " << needle;
    } catch (const ModelError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("broken-vae22.safetensors"), std::string::npos) << what;
      EXPECT_NE(what.find(needle), std::string::npos) << what;
    }
  };
  auto missing = weights;
  missing.erase("decoder.upsamples.1.upsamples.3.time_conv.weight");
  expect_model_error(missing, "decoder.upsamples.1.upsamples.3.time_conv.weight");
  auto misshaped = weights;
  misshaped["encoder.conv1.weight"] = at::zeros({2, 3, 3, 3, 3});  // an unpatchified 3-channel input
  expect_model_error(misshaped, "encoder.conv1.weight");
  // A Wan2.1 VAE is told apart by its flat decoder stages, in each layout.
  expect_model_error({{"decoder.conv1.weight", at::ones({4, 16, 3, 3, 3})},
                      {"decoder.middle.0.residual.0.gamma", at::ones({4, 1, 1, 1})},
                      {"decoder.upsamples.0.residual.0.gamma", at::ones({4, 1, 1, 1})}},
                     "Wan2.1");
  expect_model_error({{"decoder.conv_in.weight", at::ones({4, 16, 3, 3, 3})},
                      {"decoder.up_blocks.0.upsamplers.0.resample.1.weight", at::ones({4, 4, 3, 3})}},
                     "Wan2.1");
}

std::vector<std::string> split_name(const std::string& name) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t dot; (dot = name.find('.', start)) != std::string::npos; start = dot + 1) {
    parts.push_back(name.substr(start, dot - start));
  }
  parts.push_back(name.substr(start));
  return parts;
}

std::string join_from(const std::vector<std::string>& parts, size_t from) {
  std::string out;
  for (size_t i = from; i < parts.size(); ++i) out += (out.empty() ? "" : ".") + parts[i];
  return out;
}

// Official Wan2.2 -> diffusers, written from AutoencoderKLWan's is_residual
// module tree (not by inverting key_maps.cpp): stage i's list holds
// num_res_blocks resnets (encoder) or num_res_blocks+1 (decoder), then the
// resampler, which diffusers names downsampler / upsampler.
std::string to_diffusers22(const std::string& name, int64_t num_res_blocks) {
  const std::vector<std::string> p = split_name(name);
  if (p[0] == "conv1") return "quant_conv." + join_from(p, 1);
  if (p[0] == "conv2") return "post_quant_conv." + join_from(p, 1);
  const std::string& side = p[0];
  const auto leaf = [&](size_t at) {
    if (p[at] == "shortcut") return "conv_shortcut." + join_from(p, at + 1);
    static const std::map<std::string, std::string> residual{{"0", "norm1"}, {"2", "conv1"}, {"3", "norm2"}, {"6", "conv2"}};
    if (p[at] == "residual") return residual.at(p[at + 1]) + "." + join_from(p, at + 2);
    return join_from(p, at);  // attention and resample internals keep their names
  };
  if (p[1] == "conv1") return side + ".conv_in." + join_from(p, 2);
  if (p[1] == "head") return side + (p[2] == "0" ? ".norm_out." : ".conv_out.") + join_from(p, 3);
  if (p[1] == "middle") {
    const std::string block = p[2] == "0" ? "resnets.0" : p[2] == "1" ? "attentions.0" : "resnets.1";
    return side + ".mid_block." + block + "." + leaf(3);
  }
  // encoder.downsamples.{i}.downsamples.{j}... / decoder.upsamples.{i}.upsamples.{j}...
  const bool encoder = side == "encoder";
  const int64_t j = std::stoll(p[4]);
  const int64_t resnets = encoder ? num_res_blocks : num_res_blocks + 1;
  const std::string block =
      j < resnets ? "resnets." + std::to_string(j) : (encoder ? "downsampler" : "upsampler");
  return side + (encoder ? ".down_blocks." : ".up_blocks.") + p[2] + "." + block + "." + leaf(5);
}

TEST(vae22_model, every_layout_loads_to_identical_outputs) {
  const Vae22Config config = tiny_config();
  const auto weights = tiny_weights();
  at::manual_seed(11);
  const at::Tensor video = at::rand({1, 3, 5, 32, 32}) * 2 - 1;
  const at::Tensor z = at::randn({1, 48, 2, 2, 2});
  WanVAE22 reference(config);
  {
    io::MemorySource source("tiny-vae22", weights);
    reference->load_weights(source, Logger{});
  }
  at::Tensor expected_latent, expected_video;
  {
    c10::InferenceMode inference;
    expected_latent = reference->encode(video);
    expected_video = reference->decode(z);
  }
  // Pairs checked by hand against the diffusers module tree.
  EXPECT_EQ(to_diffusers22("encoder.downsamples.1.downsamples.2.time_conv.weight", 2),
            "encoder.down_blocks.1.downsampler.time_conv.weight");
  EXPECT_EQ(to_diffusers22("decoder.upsamples.0.upsamples.3.resample.1.weight", 2),
            "decoder.up_blocks.0.upsampler.resample.1.weight");
  EXPECT_EQ(to_diffusers22("decoder.upsamples.2.upsamples.0.shortcut.bias", 2),
            "decoder.up_blocks.2.resnets.0.conv_shortcut.bias");
  EXPECT_EQ(to_diffusers22("encoder.downsamples.0.downsamples.1.residual.6.weight", 2),
            "encoder.down_blocks.0.resnets.1.conv2.weight");
  std::map<std::string, at::Tensor> diffusers, comfy;
  for (const auto& [name, tensor] : weights) {
    diffusers[to_diffusers22(name, config.common.num_res_blocks)] = tensor;
    comfy["first_stage_model." + name] = tensor;
  }
  ASSERT_EQ(diffusers.size(), weights.size());
  const std::vector<std::pair<VaeLayout, std::map<std::string, at::Tensor>>> layouts{
      {VaeLayout::comfy_checkpoint, comfy}, {VaeLayout::diffusers, diffusers}};
  for (const auto& [layout, tensors] : layouts) {
    SCOPED_TRACE(layout_name(layout));
    io::MemorySource source("renamed", tensors);
    EXPECT_EQ(detect_vae_layout(source), layout);
    VaeLoadOptions options;
    options.strict_weights = true;  // every renamed tensor must find its module
    WanVAE22 vae = load_vae22(source, layout, config, Logger{}, options);
    c10::InferenceMode inference;
    EXPECT_TRUE(at::equal(vae->encode(video), expected_latent));
    EXPECT_TRUE(at::equal(vae->decode(z), expected_video));
  }
}

TEST(vae22_model, streamed_decode_hands_out_frames_in_order) {
  WanVAE22 vae(tiny_config());
  io::MemorySource source("tiny-vae22", tiny_weights());
  vae->load_weights(source, Logger{});
  c10::InferenceMode inference;
  at::manual_seed(3);
  const at::Tensor z = at::randn({1, 48, 4, 2, 2});
  std::vector<int64_t> firsts, counts;
  std::vector<at::Tensor> chunks;
  vae->decode_frames(z, [&](const at::Tensor& frames, int64_t first) {
    firsts.push_back(first);
    counts.push_back(frames.size(2));
    chunks.push_back(frames);
  });
  EXPECT_EQ(firsts, (std::vector<int64_t>{0, 1, 5, 9}));
  EXPECT_EQ(counts, (std::vector<int64_t>{1, 4, 4, 4}));
  const at::Tensor whole = vae->decode(z);
  ASSERT_EQ(whole.sizes(), (std::vector<int64_t>{1, 3, WanVAE22Impl::frames_for_latents(4), 32, 32}));
  EXPECT_TRUE(at::equal(at::cat(chunks, 2), whole));
  EXPECT_LE(whole.abs().max().item<float>(), 1.0f);
  // Encoding the decoded video gives back as many latent frames.
  EXPECT_EQ(vae->encode(whole).sizes(), z.sizes());
}

}  // namespace
}  // namespace soragen::vae
