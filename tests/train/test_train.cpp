// The trainer's bookkeeping: the EMA's warm-up (the exported weights must not
// keep a share of the random initialisation), the learning-rate schedule, and
// checkpoints that resume to the same values.
#include <gtest/gtest.h>

#include <torch/nn/modules/linear.h>

#include <cmath>
#include <filesystem>

#include "checkpoint.h"
#include "clips.h"
#include "io/safetensors_writer.h"
#include "schedule.h"

namespace soragen::train {
namespace {

namespace fs = std::filesystem;

void fill(torch::nn::Linear& layer, float value) {
  const torch::NoGradGuard no_grad;
  for (auto& p : layer->parameters()) p.fill_(value);
}

torch::nn::Linear filled(float value) {
  torch::nn::Linear layer(2, 2);
  fill(layer, value);
  return layer;
}

TEST(Ema, WarmsUpSoTheInitialWeightsFadeOut) {
  torch::nn::Linear layer = filled(0.0f);
  Ema ema(*layer, 0.999);
  fill(layer, 1.0f);
  // Step 0 decays by 1/10: 90% of the first trained value already.
  ema.update(*layer, 0);
  EXPECT_NEAR(ema.tensors().at("weight")[0][0].item<float>(), 0.9f, 1e-6);
  // After 2000 steps of weights at 1.0 the initial 0.0 is all but gone (a
  // fixed 0.999 would leave 0.999^2000 = 13.5% of it: 0.865).
  for (int64_t step = 1; step < 2000; ++step) ema.update(*layer, step);
  EXPECT_GT(ema.tensors().at("bias")[0].item<float>(), 0.9999f);
}

TEST(Ema, ReachesItsConfiguredDecay) {
  torch::nn::Linear layer = filled(0.0f);
  Ema ema(*layer, 0.9);
  fill(layer, 1.0f);
  // (1 + step) / (10 + step) > 0.9 from step 81 on: the decay is capped there.
  ema.update(*layer, 100000);
  EXPECT_NEAR(ema.tensors().at("weight")[1][1].item<float>(), 0.1f, 1e-6);
}

TEST(Ema, CopiesIntoAModuleAndReloads) {
  torch::nn::Linear layer = filled(0.0f);
  Ema ema(*layer, 0.5);
  fill(layer, 4.0f);
  ema.update(*layer, 100000);  // 0.5 * 0 + 0.5 * 4
  torch::nn::Linear target = filled(-1.0f);
  ema.copy_to(*target);
  EXPECT_FLOAT_EQ(target->weight[0][1].item<float>(), 2.0f);
  EXPECT_FLOAT_EQ(target->bias[1].item<float>(), 2.0f);

  // A resumed run reloads the average it saved.
  const fs::path path = fs::temp_directory_path() / "soragen_test_ema.safetensors";
  io::save_safetensors(path, ema.tensors());
  Ema resumed(*filled(7.0f), 0.5);
  resumed.load(path);
  EXPECT_FLOAT_EQ(resumed.tensors().at("weight")[1][0].item<float>(), 2.0f);
  fs::remove(path);
}

TEST(Schedule, WarmsUpThenDecaysToATenth) {
  EXPECT_NEAR(learning_rate(1.0, 0, 1000, 100), 0.01, 1e-12);   // first warm-up step
  EXPECT_NEAR(learning_rate(1.0, 99, 1000, 100), 0.9 * 0.5 * (1 + std::cos(M_PI * 0.099)) + 0.1, 1e-12);
  EXPECT_NEAR(learning_rate(1.0, 500, 1000, 100), 0.55, 1e-12);  // halfway down the cosine
  EXPECT_NEAR(learning_rate(1.0, 1000, 1000, 100), 0.1, 1e-12);  // floor at the end
  EXPECT_NEAR(learning_rate(1.0, 5000, 1000, 100), 0.1, 1e-12);  // and beyond (a resumed longer run)
}

TEST(Checkpoint, ModuleTensorsRoundTrip) {
  torch::nn::Linear layer(3, 2);
  const fs::path path = fs::temp_directory_path() / "soragen_test_checkpoint.safetensors";
  io::save_safetensors(path, module_tensors(*layer));
  torch::nn::Linear other(3, 2);
  load_module_tensors(*other, path);
  const auto saved = module_tensors(*layer), loaded = module_tensors(*other);
  ASSERT_EQ(saved.size(), 2u);
  for (const auto& [name, value] : saved) EXPECT_TRUE(at::equal(value, loaded.at(name))) << name;

  torch::nn::Linear wrong(4, 2);
  EXPECT_THROW(load_module_tensors(*wrong, path), std::runtime_error);
  fs::remove(path);
}

TEST(Checkpoint, JsonRoundTrip) {
  const fs::path path = fs::temp_directory_path() / "soragen_test_state.json";
  write_json(path, {{"step", 1200}, {"log", {{{"step", 25}, {"loss", 0.5}}}}});
  const nlohmann::json state = read_json(path);
  EXPECT_EQ(state["step"].get<int64_t>(), 1200);
  EXPECT_DOUBLE_EQ(state["log"][0]["loss"].get<double>(), 0.5);
  fs::remove(path);
}

TEST(Clips, SceneRowsRoundTrip) {
  world::Scene scene;
  scene.colour = 5;
  scene.shape = world::Shape::triangle;
  scene.size = world::Size::large;
  scene.direction = world::Direction::up;
  scene.background = 2;
  scene.gradient = true;
  const std::vector<int64_t> row = scene_row(scene);
  ASSERT_EQ(static_cast<int64_t>(row.size()), kSceneRowLength);
  const world::Scene back = scene_from_row(at::tensor(row, at::kLong));
  EXPECT_EQ(back.colour, 5);
  EXPECT_EQ(back.shape, world::Shape::triangle);
  EXPECT_EQ(back.size, world::Size::large);
  EXPECT_EQ(back.direction, world::Direction::up);
  EXPECT_EQ(back.background, 2);
  EXPECT_TRUE(back.gradient);
}

TEST(Clips, StepStreamsDependOnlyOnSeedAndStep) {
  std::mt19937_64 a = step_rng(7, 1200), b = step_rng(7, 1200), c = step_rng(7, 1201);
  const auto first = a();
  EXPECT_EQ(first, b());
  EXPECT_NE(first, c());
  at::Generator g1 = step_generator(7, 3), g2 = step_generator(7, 3);
  EXPECT_TRUE(at::equal(at::randn({4}, g1), at::randn({4}, g2)));
}

TEST(Clips, ObjectMaskMarksPixelsOffTheirRowsBackground) {
  // A gradient background (each row its own colour) with one object pixel.
  at::Tensor clip = at::linspace(-1, 1, 64).view({1, 1, 1, 64, 1}).expand({1, 3, 17, 64, 64}).clone();
  clip[0][0][6][20][40] = 0.9;
  const at::Tensor mask = object_mask(clip);
  ASSERT_EQ(mask.sizes(), (std::vector<int64_t>{1, 1, 17, 64, 64}));
  EXPECT_EQ(mask.sum().item<float>(), 1.0f);
  EXPECT_EQ(mask[0][0][6][20][40].item<float>(), 1.0f);
}

TEST(Clips, LatentObjectMaskFollowsTheVaeGrid) {
  // Frame 0 is latent frame 0; frames 1-4, 5-8, ... are latent frames 1, 2, ...;
  // 8x8 pixels make one latent pixel.
  at::Tensor pixels = at::zeros({1, 1, 17, 64, 64});
  pixels[0][0][0][3][3] = 1;     // -> latent frame 0, pixel (0, 0)
  pixels[0][0][6][20][40] = 1;   // -> latent frame 2, pixel (2, 5)
  pixels[0][0][16][63][0] = 1;   // -> latent frame 4, pixel (7, 0)
  const at::Tensor latent = latent_object_mask(pixels, at::zeros({1, 16, 5, 8, 8}));
  ASSERT_EQ(latent.sizes(), (std::vector<int64_t>{1, 1, 5, 8, 8}));
  EXPECT_EQ(latent.sum().item<float>(), 3.0f);
  EXPECT_EQ(latent[0][0][0][0][0].item<float>(), 1.0f);
  EXPECT_EQ(latent[0][0][2][2][5].item<float>(), 1.0f);
  EXPECT_EQ(latent[0][0][4][7][0].item<float>(), 1.0f);
}

}  // namespace
}  // namespace soragen::train
