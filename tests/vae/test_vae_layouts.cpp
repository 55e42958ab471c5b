// Checkpoint layouts: the tiny golden weights renamed in memory into each
// supported layout must load into the same model and give identical outputs.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <sstream>
#include <string>
#include <vector>

#include "soragen/error.h"
#include "vae/key_maps.h"
#include "vae_test_util.h"

namespace soragen::vae {
namespace {

std::vector<std::string> split(const std::string& name) {
  std::vector<std::string> parts;
  std::stringstream in(name);
  for (std::string part; std::getline(in, part, '.');) parts.push_back(part);
  return parts;
}

std::string join(const std::vector<std::string>& parts, size_t from) {
  std::string out;
  for (size_t i = from; i < parts.size(); ++i) out += (out.empty() ? "" : ".") + parts[i];
  return out;
}

// Official -> diffusers, written from AutoencoderKLWan's module tree (not by
// inverting key_maps.cpp): decoder stage s holds num_res_blocks+1 resnets and
// one upsampler, so flat index n is stage n / (nrb+2), position n % (nrb+2).
std::string to_diffusers(const std::string& name, int64_t num_res_blocks) {
  std::vector<std::string> p = split(name);
  if (p[0] == "conv1") return "quant_conv." + join(p, 1);
  if (p[0] == "conv2") return "post_quant_conv." + join(p, 1);
  const std::string side = p[0];
  const auto resnet_leaf = [&](size_t at) {
    if (p[at] == "shortcut") return "conv_shortcut." + join(p, at + 1);
    static const std::map<std::string, std::string> leaf{{"0", "norm1"}, {"2", "conv1"}, {"3", "norm2"}, {"6", "conv2"}};
    if (p[at] == "residual") return leaf.at(p[at + 1]) + "." + join(p, at + 2);
    return join(p, at);  // attention and resample internals keep their names
  };
  if (p[1] == "conv1") return side + ".conv_in." + join(p, 2);
  if (p[1] == "head") return side + (p[2] == "0" ? ".norm_out." : ".conv_out.") + join(p, 3);
  if (p[1] == "middle") {
    const std::string block = p[2] == "0" ? "resnets.0" : p[2] == "1" ? "attentions.0" : "resnets.1";
    return side + ".mid_block." + block + "." + resnet_leaf(3);
  }
  if (p[1] == "downsamples") return side + ".down_blocks." + p[2] + "." + resnet_leaf(3);
  const int64_t flat = std::stoll(p[2]);
  const int64_t stage = flat / (num_res_blocks + 2), position = flat % (num_res_blocks + 2);
  const std::string block = position <= num_res_blocks ? "resnets." + std::to_string(position) : "upsamplers.0";
  return side + ".up_blocks." + std::to_string(stage) + "." + block + "." + resnet_leaf(3);
}

std::map<std::string, at::Tensor> renamed(const std::map<std::string, at::Tensor>& weights,
                                          const std::function<std::string(const std::string&)>& rename) {
  std::map<std::string, at::Tensor> out;
  for (const auto& [name, tensor] : weights) out[rename(name)] = tensor;
  return out;
}

TEST(vae_layouts, diffusers_names_match_the_conversion_script) {
  // Pairs stated literally in diffusers' scripts/convert_wan_to_diffusers.py (convert_vae).
  const std::vector<std::pair<std::string, std::string>> pairs{
      {"decoder.upsamples.4.shortcut.weight", "decoder.up_blocks.1.resnets.0.conv_shortcut.weight"},
      {"decoder.upsamples.3.time_conv.weight", "decoder.up_blocks.0.upsamplers.0.time_conv.weight"},
      {"decoder.upsamples.11.resample.1.bias", "decoder.up_blocks.2.upsamplers.0.resample.1.bias"},
      {"decoder.upsamples.14.residual.6.weight", "decoder.up_blocks.3.resnets.2.conv2.weight"},
      {"decoder.middle.1.to_qkv.weight", "decoder.mid_block.attentions.0.to_qkv.weight"},
      {"encoder.middle.2.residual.3.gamma", "encoder.mid_block.resnets.1.norm2.gamma"},
      {"encoder.downsamples.5.time_conv.bias", "encoder.down_blocks.5.time_conv.bias"},
      {"encoder.downsamples.3.shortcut.weight", "encoder.down_blocks.3.conv_shortcut.weight"},
      {"encoder.head.0.gamma", "encoder.norm_out.gamma"},
      {"decoder.head.2.weight", "decoder.conv_out.weight"},
      {"encoder.conv1.weight", "encoder.conv_in.weight"},
      {"conv1.weight", "quant_conv.weight"},
      {"conv2.bias", "post_quant_conv.bias"},
  };
  const io::KeyMap map = vae_key_map(VaeLayout::diffusers, test::tiny_config());
  for (const auto& [official, diffusers] : pairs) {
    EXPECT_EQ(to_diffusers(official, 2), diffusers);
    EXPECT_EQ(map.apply(diffusers).value_or("<dropped>"), official);
  }
  // Every tiny-model name survives the round trip through the table.
  for (const auto& [name, tensor] : test::tiny_weights()) {
    EXPECT_EQ(map.apply(to_diffusers(name, 2)).value_or("<dropped>"), name);
  }
}

TEST(vae_layouts, every_layout_loads_to_identical_outputs) {
  const VaeConfig config = test::tiny_config();
  const auto weights = test::tiny_weights();
  at::manual_seed(5);
  const at::Tensor video = at::rand({1, 3, 5, 16, 16}) * 2 - 1;
  const at::Tensor z = at::randn({1, 16, 2, 2, 2});

  WanVAE reference = test::tiny_vae();
  at::Tensor expected_latent, expected_video;
  {
    c10::InferenceMode inference;
    expected_latent = reference->encode(video);
    expected_video = reference->decode(z);
  }
  const std::vector<std::pair<VaeLayout, std::map<std::string, at::Tensor>>> layouts{
      {VaeLayout::official, weights},
      {VaeLayout::comfy_checkpoint, renamed(weights, [](const std::string& n) { return "first_stage_model." + n; })},
      {VaeLayout::diffusers, renamed(weights, [](const std::string& n) { return to_diffusers(n, 2); })},
  };
  for (const auto& [layout, tensors] : layouts) {
    SCOPED_TRACE(layout_name(layout));
    io::MemorySource source("renamed", tensors);
    EXPECT_EQ(detect_vae_layout(source), layout);
    WanVAE vae(config);  // fresh random init: everything must come from the source
    vae->load_weights(source, Logger{});
    c10::InferenceMode inference;
    EXPECT_TRUE(at::equal(vae->encode(video), expected_latent));
    EXPECT_TRUE(at::equal(vae->decode(z), expected_video));
  }
}

TEST(vae_layouts, errors_name_the_problem) {
  const VaeConfig config = test::tiny_config();
  auto weights = test::tiny_weights();
  {
    io::MemorySource source("not-a-vae", {{"blocks.0.self_attn.q.weight", at::zeros({2, 2})}});
    EXPECT_THROW(detect_vae_layout(source), ModelError);
  }
  weights.erase("decoder.upsamples.7.time_conv.weight");
  io::MemorySource source("partial", weights);
  WanVAE vae(config);
  try {
    vae->load_weights(source, Logger{});
    ADD_FAILURE() << "a missing tensor must throw";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("decoder.upsamples.7.time_conv.weight"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace soragen::vae
