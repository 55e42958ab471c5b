// soragen-convert run as a program on a small DiT: the fp8 and int8 files
// load through the engine (strictly: the scales are not parameters) within
// each format's error of the original weights; other tensors are copied
// bit-exactly; bad inputs and an existing output are one-line errors.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <fstream>
#include <iterator>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "dit/config.h"
#include "dit/quantized_linear.h"
#include "dit/wan_model.h"
#include "io/safetensors_writer.h"
#include "io/tensor_source.h"
#include "soragen/log.h"
#include "test_util.h"
#include "video/image_reader.h"

namespace {

using soragen::test::TempDir;

soragen::dit::DitConfig small_dit() {
  const nlohmann::json json = {{"model_type", "t2v"}, {"patch_size", {1, 2, 2}}, {"text_len", 16}, {"in_dim", 4},
                               {"dim", 64}, {"ffn_dim", 128}, {"freq_dim", 32}, {"text_dim", 32}, {"out_dim", 4},
                               {"num_heads", 4}, {"num_layers", 2}, {"window_size", {-1, -1}}, {"qk_norm", true},
                               {"cross_attn_norm", true}, {"eps", 1e-6}};
  return soragen::dit::DitConfig::from_json(json, "small");
}

// A bf16 checkpoint in the official names, with random weights.
std::map<std::string, at::Tensor> write_checkpoint(const std::filesystem::path& path) {
  soragen::dit::WanModel model(small_dit());
  at::manual_seed(5);
  std::map<std::string, at::Tensor> tensors;
  for (const auto& item : model->named_parameters()) {
    tensors[item.key()] = (at::randn(item.value().sizes()) * 0.05).to(at::kBFloat16);
  }
  soragen::io::save_safetensors(path, tensors);
  return tensors;
}

std::string convert(const std::string& args) {
  return (soragen::test::build_dir() / "soragen-convert").string() + " " + args;
}

void expect_loads_close(const std::filesystem::path& file, const std::map<std::string, at::Tensor>& original,
                        double relative) {
  soragen::dit::DitLoadOptions strict;
  strict.strict_weights = true;
  const auto source = soragen::io::open_weights(file);
  const soragen::dit::WanModel model = soragen::dit::load_wan_model(small_dit(), *source, soragen::Logger(), strict);
  int quantized = 0;
  for (const auto& item : model->named_parameters()) {
    const at::Tensor want = original.at(item.key()).to(at::kFloat);
    const at::Tensor got = item.value().to(at::kFloat);
    if (item.key().rfind("blocks.", 0) == 0 && want.dim() == 2) {
      ++quantized;
      const double error = ((got - want).abs().max() / want.abs().max()).item<double>();
      EXPECT_LE(error, relative) << item.key();
      EXPECT_GT(error, 0) << item.key() << " was not quantized";
    } else {
      EXPECT_TRUE(at::equal(got, want)) << item.key() << " is copied as stored";
    }
  }
  EXPECT_GT(quantized, 10);
}

TEST(Convert, Fp8AndInt8FilesLoadWithinTheirStep) {
  TempDir dir;
  const auto original = write_checkpoint(dir / "dit.safetensors");
  auto result = soragen::test::run_command(
      convert("--to fp8 " + (dir / "dit.safetensors").string() + " " + (dir / "fp8.safetensors").string()));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("weights quantized to fp8"), std::string::npos) << result.output;
  {
    const auto fp8 = soragen::io::open_weights(dir / "fp8.safetensors");
    EXPECT_EQ(fp8->info("blocks.0.self_attn.q.weight").dtype, "F8_E4M3");
    EXPECT_EQ(fp8->info("blocks.0.self_attn.q.scale_weight").shape, std::vector<int64_t>{1});
    EXPECT_TRUE(fp8->contains("scaled_fp8"));
    EXPECT_EQ(fp8->info("head.head.weight").dtype, "BF16") << "outside the blocks: as stored";
  }
  // A step of e4m3 is 2^-3 of its binade: half of it relative to the largest weight, at most.
  expect_loads_close(dir / "fp8.safetensors", original, 1.0 / 16);

  result = soragen::test::run_command(
      convert("--to int8 " + (dir / "dit.safetensors").string() + " " + (dir / "int8.safetensors").string()));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  {
    const auto int8 = soragen::io::open_weights(dir / "int8.safetensors");
    EXPECT_EQ(int8->info("blocks.1.ffn.0.weight").dtype, "I8");
    EXPECT_EQ(int8->info("blocks.1.ffn.0.scale_weight").shape, std::vector<int64_t>{128});
    EXPECT_FALSE(int8->contains("scaled_fp8"));
  }
  expect_loads_close(dir / "int8.safetensors", original, 0.5 / 127 + 1e-6);

  // Converted again from the fp8 file: its values, requantized.
  result = soragen::test::run_command(
      convert("--to int8 " + (dir / "fp8.safetensors").string() + " " + (dir / "again.safetensors").string()));
  EXPECT_EQ(result.exit_code, 0) << result.output;
}

// PSNR in dB of two frames of the same size.
double psnr(const soragen::video::RgbImage& a, const soragen::video::RgbImage& b) {
  double squared = 0;
  for (std::size_t i = 0; i < a.pixels.size(); ++i) {
    const double d = static_cast<double>(a.pixels[i]) - static_cast<double>(b.pixels[i]);
    squared += d * d;
  }
  const double mse = squared / static_cast<double>(a.pixels.size());
  return mse == 0 ? 99.0 : 10.0 * std::log10(255.0 * 255.0 / mse);
}

// The embedded default's DiT converted, then rendered with its codes kept
// (--fp8-weights keep) and decoded at load (decode). fp8 codes are decoded
// per layer call (the CPU has no fp8 product): the same numbers in the same
// order, so the same frames. int8 codes are multiplied by the CPU's int8
// product where libtorch has one, the activations quantized on the fly:
// close frames, not equal ones (short renders: the frames only need to be
// compared). (On libtorch 1.13 the io layer decodes fp8 itself: nothing of it
// is kept, which the log says.)
TEST(Convert, KeptWeightsRenderTheFramesOfDecodedOnes) {
  TempDir dir;
  const std::filesystem::path shipped = std::filesystem::path(SORAGEN_SOURCE_MODELS_DIR) / "default";
  const bool int8_matmul = soragen::dit::has_int8_matmul(c10::Device(c10::kCPU));
  for (const std::string format : {"int8", "fp8"}) {
    // The bundle with its DiT replaced (--dit takes the sizes of real Wan models only).
    const std::filesystem::path model = dir / format;
    std::filesystem::copy(shipped, model);
    std::filesystem::remove(model / "dit.safetensors");
    auto result = soragen::test::run_command(
        convert("--to " + format + " " + (shipped / "dit.safetensors").string() + " " + (model / "dit.safetensors").string()));
    ASSERT_EQ(result.exit_code, 0) << result.output;
    const bool multiplied_in_int8 = format == "int8" && int8_matmul;
    // Equal frames are compared after 2 steps; close ones after the model's
    // own count, as a user sees them (2 steps leave noise, which amplifies
    // any difference).
    const std::string steps = multiplied_in_int8 ? "" : " --steps 2";
    std::map<std::string, std::string> logs;
    for (const std::string mode : {"keep", "decode"}) {
      const std::filesystem::path out = dir / (format + "_" + mode);
      result = soragen::test::run_command(
          "'" + (soragen::test::build_dir() / "soragen").string() +
          "' --prompt 'a small red circle moving to the right on a blue background' --seed 3 --frames 5" + steps +
          " --model '" +
          model.string() + "' --fp8-weights " + mode + " -v -o '" + out.string() + "/' </dev/null");
      ASSERT_EQ(result.exit_code, 0) << result.output;
      logs[mode] = result.output;
    }
    EXPECT_EQ(logs["decode"].find("kept as stored"), std::string::npos) << logs["decode"];
    if (format == "int8") {
      EXPECT_NE(logs["keep"].find("quantized block weights kept as stored"), std::string::npos) << logs["keep"];
      EXPECT_EQ(logs["keep"].find(": 0 quantized block weights"), std::string::npos) << logs["keep"];
      EXPECT_EQ(logs["keep"].find(" multiplied in int8, 0 decoded per call") != std::string::npos, multiplied_in_int8)
          << logs["keep"];
    }
    int frames = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir / (format + "_keep"))) {
      const std::filesystem::path decoded = dir / (format + "_decode") / entry.path().filename();
      if (multiplied_in_int8 && entry.path().extension() == ".png") {
        // int8 activations move each product by up to 1/127 of its token's
        // range: 41.7-42.3 dB from fp32 on two 17-frame renders (measured),
        // above 30 here; a wrong scale or a saturated product renders noise.
        EXPECT_GT(psnr(soragen::video::read_image(entry.path(), "kept"), soragen::video::read_image(decoded, "decoded")),
                  30.0)
            << entry.path().filename();
      } else if (!multiplied_in_int8) {
        std::ifstream kept(entry.path(), std::ios::binary);
        std::ifstream same(decoded, std::ios::binary);
        const std::string a((std::istreambuf_iterator<char>(kept)), std::istreambuf_iterator<char>());
        const std::string b((std::istreambuf_iterator<char>(same)), std::istreambuf_iterator<char>());
        EXPECT_FALSE(a.empty());
        EXPECT_EQ(a, b) << format << ": " << entry.path().filename();
      }
      frames += entry.path().extension() == ".png";
    }
    EXPECT_EQ(frames, 5);
  }
}

TEST(Convert, RefusesAnExistingOutputAndAFileWithoutBlocks) {
  TempDir dir;
  write_checkpoint(dir / "dit.safetensors");
  const std::string in = (dir / "dit.safetensors").string();
  auto result = soragen::test::run_command(convert("--to fp8 " + in + " " + in));
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find("exists; --force replaces it"), std::string::npos) << result.output;
  soragen::io::save_safetensors(dir / "vae.safetensors", {{"decoder.conv1.weight", at::ones({4, 4})}});
  result = soragen::test::run_command(
      convert("--to fp8 " + (dir / "vae.safetensors").string() + " " + (dir / "out.safetensors").string()));
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find("not a DiT checkpoint"), std::string::npos) << result.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "out.safetensors"));
  result = soragen::test::run_command(convert("--to fp8 " + (dir / "missing.safetensors").string() + " " +
                                              (dir / "out.safetensors").string()));
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.output.find("missing.safetensors"), std::string::npos) << result.output;
  result = soragen::test::run_command(convert("--to fp8 " + in + " " + (dir / "no" / "out.safetensors").string()));
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.output.find("does not exist"), std::string::npos) << result.output;
}

}  // namespace
