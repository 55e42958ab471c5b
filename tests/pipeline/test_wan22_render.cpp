// Wan2.2 folders rendered end to end through Pipeline::load and generate: a
// bundled model.json (the schema soragen-make-model writes) made from the
// golden tiny parts, once with two experts (T2V-A14B's layout) and once with
// the TI2V DiT and the Wan2.2 VAE. The tiny configs are no released model's,
// so the folder carries them, as model.json does.
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "golden_util.h"
#include "io/safetensors_writer.h"
#include "io/tensor_source.h"
#include "soragen/pipeline.h"

namespace soragen {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path golden22(const char* name) { return test::golden_dir() / "wan22" / name; }

// The tensors of `file` under `prefix` + ".", without it.
void write_expert(const fs::path& file, const fs::path& to, const std::string& prefix) {
  const auto source = io::open_weights(file);
  std::map<std::string, at::Tensor> tensors;
  for (const auto& name : source->names()) {
    if (name.rfind(prefix + ".", 0) == 0) tensors[name.substr(prefix.size() + 1)] = source->load(name);
  }
  io::save_safetensors(to, tensors);
}

// The parts both folders share: the tiny umT5 (vocab 300) and the bundled
// default's tokenizer, whose vocabulary fits it.
json shared_parts(const fs::path& dir) {
  fs::copy_file(test::golden_dir() / "t5_encoder.safetensors", dir / "te.safetensors");
  fs::copy_file(models_directory() / "default" / "spiece.model", dir / "spiece.model");
  return {{"tokenizer", "spiece.model"},
          {"text_encoder",
           {{"weights", "te.safetensors"},
            {"config", test::GoldenFile(test::golden_dir() / "t5_encoder.safetensors").config()}}}};
}

GenerationRequest tiny_request() {
  GenerationRequest request;
  request.prompt = "a red ball";
  request.frames = 5;
  request.width = 32;
  request.height = 32;
  request.steps = 4;
  request.seed = 7;
  return request;
}

struct Render {
  VideoFrames video;
  std::vector<std::string> log;
  GenerationDefaults defaults;
};

Render render(const fs::path& dir) {
  Render out;
  const Logger logger([&out](LogLevel, const std::string& message) { out.log.push_back(message); }, LogLevel::info);
  ModelSpec spec;
  spec.model = dir.string();
  Pipeline pipe = Pipeline::load(spec, {}, logger);
  out.defaults = pipe.defaults();
  out.video = pipe.generate(resolve_request(tiny_request(), pipe.defaults()), {});
  return out;
}

TEST(Wan22Render, TwoExpertFolderRendersAndSwitchesToTheLowNoiseExpert) {
  test::TempDir dir;
  const fs::path moe = golden22("wan22_moe_pipeline.safetensors");
  write_expert(moe, dir / "high.safetensors", "high_noise_model");
  write_expert(moe, dir / "low.safetensors", "low_noise_model");
  fs::copy_file(test::golden_dir() / "vae.safetensors", dir / "vae.safetensors");
  const json expert = test::GoldenFile(moe).config().at("expert_cfg");
  json model = shared_parts(dir.path());
  model["dit"] = {{"weights", "high.safetensors"}, {"config", expert}};
  model["low_noise_dit"] = {{"weights", "low.safetensors"}, {"config", expert}};
  model["boundary"] = 0.875;
  model["vae"] = {{"weights", "vae.safetensors"},
                  {"config", test::GoldenFile(test::golden_dir() / "vae.safetensors").config()}};
  // shift 12 (T2V-A14B's): of 4 steps the last has t = 800 < 875.
  model["defaults"] = {{"shift", 12.0}, {"guidance", 3.0}, {"guidance_high", 4.0}};
  std::ofstream(dir / "model.json") << model.dump();

  const Render out = render(dir.path());
  EXPECT_EQ(out.defaults.guidance_high, 4.0);
  EXPECT_EQ(out.video.count, 5);
  EXPECT_EQ(out.video.width, 32);
  EXPECT_EQ(out.video.height, 32);
  EXPECT_EQ(out.video.rgb.size(), 5u * 32 * 32 * 3);
  bool low_loaded = false;
  for (const auto& line : out.log) {
    if (line.find("loading the low-noise expert: " + (dir / "low.safetensors").string()) != std::string::npos) {
      low_loaded = true;
    }
  }
  EXPECT_TRUE(low_loaded) << "the low-noise expert never ran";
}

TEST(Wan22Render, Ti2vFolderRendersThroughTheWan22Vae) {
  test::TempDir dir;
  fs::copy_file(golden22("wan22_ti2v_dit.safetensors"), dir / "dit.safetensors");
  fs::copy_file(golden22("wan22_vae.safetensors"), dir / "vae.safetensors");
  json model = shared_parts(dir.path());
  model["dit"] = {{"weights", "dit.safetensors"},
                  {"config", test::GoldenFile(golden22("wan22_ti2v_dit.safetensors")).config()}};
  model["vae"] = {{"weights", "vae.safetensors"},
                  {"config", test::GoldenFile(golden22("wan22_vae.safetensors")).config()}};
  std::ofstream(dir / "model.json") << model.dump();

  const Render out = render(dir.path());
  EXPECT_EQ(out.video.count, 5);
  EXPECT_EQ(out.video.width, 32);
  EXPECT_EQ(out.video.height, 32);
  for (const auto& line : out.log) EXPECT_EQ(line.find("low-noise"), std::string::npos) << line;
}

}  // namespace
}  // namespace soragen
