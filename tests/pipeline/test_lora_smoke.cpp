// LoRAs on the embedded default through the public API: a request's LoRAs
// are merged into the DiT, a request with other LoRAs reloads it, and going
// back to none gives the plain model's frames again.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "io/safetensors_writer.h"
#include "io/tensor_source.h"
#include "soragen/error.h"
#include "soragen/pipeline.h"
#include "test_util.h"

namespace soragen {
namespace {

ResolvedRequest lora_request(const Pipeline& pipeline, std::vector<std::string> loras) {
  GenerationRequest request;
  request.prompt = "a small red circle moving to the right on a blue background";
  request.frames = 5;
  request.steps = 3;
  request.seed = 11;
  request.lora = std::move(loras);
  return resolve_request(request, pipeline.defaults());
}

TEST(LoraSmoke, RequestsMergeTheirLorasAndReloadWhenTheyChange) {
  Pipeline pipeline = Pipeline::load({"default"}, {"cpu", "fp32", 0}, Logger());
  // A low-rank pair on the output projection, in the kohya layout, sized
  // from the shipped DiT.
  const auto dit = io::open_weights(pipeline.source().directory / "dit.safetensors");
  const std::vector<int64_t> head = dit->info("head.head.weight").shape;
  test::TempDir dir;
  const auto lora = dir / "head.safetensors";
  at::manual_seed(1);
  io::save_safetensors(lora, {{"lora_unet_head_head.lora_down.weight", 0.05 * at::randn({2, head[1]})},
                              {"lora_unet_head_head.lora_up.weight", at::randn({head[0], 2})},
                              {"lora_unet_head_head.alpha", at::tensor(2.0)}});

  const VideoFrames plain = pipeline.generate(lora_request(pipeline, {}), nullptr);
  const VideoFrames zero = pipeline.generate(lora_request(pipeline, {lora.string() + ":0"}), nullptr);
  const VideoFrames merged = pipeline.generate(lora_request(pipeline, {lora.string() + ":1"}), nullptr);
  const VideoFrames back = pipeline.generate(lora_request(pipeline, {}), nullptr);
  EXPECT_EQ(zero.rgb, plain.rgb) << "scale 0 must change nothing";
  EXPECT_NE(merged.rgb, plain.rgb) << "the LoRA was not merged";
  EXPECT_EQ(back.rgb, plain.rgb) << "dropping the LoRA must give the plain DiT back";
}

TEST(LoraSmoke, ALoraForAnotherModelFailsNamingItsTensor) {
  Pipeline pipeline = Pipeline::load({"default"}, {"cpu", "fp32", 0}, Logger());
  test::TempDir dir;
  const auto lora = dir / "wan14b.safetensors";
  io::save_safetensors(lora, {{"diffusion_model.blocks.0.self_attn.q.lora_A.weight", at::zeros({4, 5120})},
                              {"diffusion_model.blocks.0.self_attn.q.lora_B.weight", at::zeros({5120, 4})}});
  try {
    pipeline.generate(lora_request(pipeline, {lora.string()}), nullptr);
    FAIL() << "no error";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("blocks.0.self_attn.q.lora_B.weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("wan14b.safetensors"), std::string::npos) << e.what();
  }
  // The pipeline is still usable afterwards.
  EXPECT_EQ(pipeline.generate(lora_request(pipeline, {}), nullptr).count, 5);
}

}  // namespace
}  // namespace soragen
