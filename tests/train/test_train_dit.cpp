// The embedded default's DiT stage (soragen-train dit) on a tiny synthetic
// training set: a few steps with every kind of sample (plain, frames known
// at the start or end, transitions, mismatched prompts, object weighting)
// run forward and backward through the model's own attention, write their
// checkpoints, resume, and move the weights.
#include <gtest/gtest.h>

#include <filesystem>

#include "checkpoint.h"
#include "clips.h"
#include "configs.h"
#include "io/safetensors_writer.h"
#include "io/tensor_source.h"
#include "short_run.h"
#include "soragen/pipeline.h"
#include "test_util.h"
#include "train.h"

namespace soragen::train {
namespace {

namespace fs = std::filesystem;

// The latents stage's file layout for `clips` random clips of the default's
// latent grid (16 channels, 5 frames, 8x8), with their scenes, object masks
// and the standalone tails of 1 and 2 latents.
void write_training_set(const fs::path& file, int64_t clips, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<world::Scene> scenes;
  for (int64_t i = 0; i < clips; ++i) scenes.push_back(world::random_scene(rng, world::Split::train));
  const int64_t frames = 1 + (kFrames - 1) / 4, grid = kSize / 8;
  io::save_safetensors(file, {{"latents", at::randn({clips, 16, frames, grid, grid})},
                              {"scenes", scene_rows(scenes)},
                              {"objects", (at::rand({clips, 1, frames, grid, grid}) > 0.8).to(at::kFloat)},
                              {"tail1", at::randn({clips, 16, 1, grid, grid})},
                              {"tail2", at::randn({clips, 16, 2, grid, grid})}});
}

TEST(TrainDit, AShortRunWithEveryKindOfSampleTrainsAndResumes) {
  soragen::test::TempDir work;
  at::manual_seed(3);
  write_training_set(work / "latents.safetensors", 6, 1);
  write_training_set(work / "transitions.safetensors", 4, 2);
  StageOptions options = test::short_run(work.path(), 11, 8);
  DitOptions dit;
  dit.tokenizer = models_directory() / "default" / "spiece.model";
  dit.object_weight = 10;
  dit.conditioning = 0.5;
  dit.transitions = 0.5;
  dit.mismatched_prompts = 0.5;
  train_dit(options, dit);
  for (const char* file : {"dit.safetensors", "dit_ema.safetensors", "text_encoder.safetensors", "dit.json"}) {
    EXPECT_TRUE(fs::exists(work / file)) << file;
  }
  const at::Tensor before = io::open_weights(work / "dit.safetensors")->load("head.head.weight").clone();
  options.steps = 3;
  train_dit(options, dit);
  const nlohmann::json state = read_json(work / "dit.json");
  EXPECT_EQ(state["step"].get<int64_t>(), 3);
  ASSERT_EQ(state["log"].size(), 3u);
  for (const auto& line : state["log"]) EXPECT_TRUE(std::isfinite(line["loss"].get<double>())) << line.dump();
  EXPECT_FALSE(at::equal(io::open_weights(work / "dit.safetensors")->load("head.head.weight"), before));
}

}  // namespace
}  // namespace soragen::train
