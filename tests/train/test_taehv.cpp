// The embedded default's tiny preview decoder stage: a config that makes
// the default VAE's frames, the latents stage's clips drawn again from its
// seed, and a short run that writes, resumes and refuses what does not fit.
#include <gtest/gtest.h>

#include <filesystem>
#include <stdexcept>

#include "checkpoint.h"
#include "clips.h"
#include "configs.h"
#include "io/safetensors_writer.h"
#include "io/tensor_source.h"
#include "short_run.h"
#include "taehv.h"
#include "test_util.h"
#include "vae/vae_config.h"

namespace soragen::train {
namespace {

namespace fs = std::filesystem;

// The scenes encode_latents draws for `count` clips, as it draws them.
std::vector<world::Scene> drawn_by_the_latents_stage(std::uint64_t seed, int count) {
  std::mt19937_64 rng = step_rng(seed, int64_t{1} << 40);
  std::vector<world::Scene> scenes;
  render_batch(rng, count, 1, &scenes);
  return scenes;
}

TEST(Taehv, TheConfigMakesTheDefaultVaesFrames) {
  const vae::VaeConfig vae = vae::VaeConfig::from_json(nlohmann::json::parse(vae_config().dump()), "VAE");
  const vae::TinyDecoderConfig config = taehv_config();
  EXPECT_EQ(config.latent_channels, vae.z_dim);
  EXPECT_EQ(config.spatial_factor(), vae.spatial_factor());
  EXPECT_EQ(config.temporal_factor(), vae.temporal_factor());
  EXPECT_EQ(config.frames_for_latents(1 + (kFrames - 1) / vae.temporal_factor()), kFrames);
  // The first stage runs at the latent's size: upscales come last.
  EXPECT_EQ(config.space_upscale[2], vae.spatial_factor() > 1);
}

TEST(Taehv, TheLatentsStagesClipsAreDrawnAgainFromItsSeed) {
  const std::vector<world::Scene> drawn = drawn_by_the_latents_stage(77, 6);
  const std::vector<world::Scene> again = latents_stage_scenes(77, scene_rows(drawn));
  ASSERT_EQ(again.size(), drawn.size());
  for (size_t i = 0; i < drawn.size(); ++i) {
    // What the rows do not hold: where the object starts and how far it goes.
    EXPECT_EQ(again[i].start_x, drawn[i].start_x) << i;
    EXPECT_EQ(again[i].start_y, drawn[i].start_y) << i;
    EXPECT_EQ(again[i].travel, drawn[i].travel) << i;
  }
  try {
    latents_stage_scenes(78, scene_rows(drawn));
    ADD_FAILURE() << "another seed drew the same scenes";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("give the seed the latents stage ran with"), std::string::npos) << e.what();
  }
}

TEST(Taehv, AShortRunWritesItsCheckpointsAndResumes) {
  soragen::test::TempDir work;
  const vae::TinyDecoderConfig config = taehv_config();
  const int64_t latents = 1 + (kFrames - 1) / config.temporal_factor();
  const int64_t grid = kSize / config.spatial_factor();
  StageOptions options = test::short_run(work.path(), 5, 2);
  const auto write_latents = [&](int64_t grid_size) {
    io::save_safetensors(work / "latents.safetensors",
                         {{"latents", at::randn({3, config.latent_channels, latents, grid_size, grid_size})},
                          {"scenes", scene_rows(drawn_by_the_latents_stage(options.seed, 3))}});
  };
  write_latents(grid + 1);
  try {
    train_taehv(options, 10.0);
    ADD_FAILURE() << "latents of another grid trained";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("run the latents stage with the VAE of configs.cpp"), std::string::npos)
        << e.what();
  }
  write_latents(grid);
  train_taehv(options, 10.0);
  for (const char* file : {"taehv.safetensors", "taehv_ema.safetensors", "taehv.optim.pt", "taehv.json"}) {
    EXPECT_TRUE(fs::exists(work / file)) << file;
  }
  EXPECT_EQ(read_json(work / "taehv.json")["step"].get<int64_t>(), 2);
  const at::Tensor before = io::open_weights(work / "taehv.safetensors")->load("decoder.1.weight").clone();
  options.steps = 3;
  train_taehv(options, 10.0);
  const nlohmann::json state = read_json(work / "taehv.json");
  EXPECT_EQ(state["step"].get<int64_t>(), 3);
  EXPECT_EQ(state["log"].size(), 3u);  // one line per step, the resumed one too
  EXPECT_FALSE(at::equal(io::open_weights(work / "taehv.safetensors")->load("decoder.1.weight"), before));
  // The EMA's file loads as a decoder of the config (what export ships).
  EXPECT_EQ(io::open_weights(work / "taehv_ema.safetensors")->info("decoder.1.weight").shape,
            (std::vector<int64_t>{config.widths[0], config.latent_channels, 3, 3}));
}

}  // namespace
}  // namespace soragen::train
