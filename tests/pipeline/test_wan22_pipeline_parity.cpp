// The Wan2.2 generate loops end to end against the golden files of
// $SORAGEN_GOLDEN_DIR/wan22 (golden README, "Wan2.2"):
//  - wan22_ti2v_pipeline*: WanTI2V.generate in t2v and i2v mode,
//  - wan22_moe_pipeline*: WanT2V.generate with two experts (T2V-A14B),
//  - wan22_i2v_pipeline*: WanI2V.generate (I2V-A14B).
// Token ids, images and noise go in; every output.* and debug.* tensor must
// come out as the reference made it, within the file's own tolerance, and
// every setting is read from the file.
#include <gtest/gtest.h>

#include <c10/core/InferenceMode.h>

#include <iostream>
#include <map>
#include <string>

#include "golden_util.h"
#include "sampling/sampler.h"
#include "video/image_fit.h"
#include "wan22_golden_components.h"

namespace soragen::pipeline {
namespace {

using test::GoldenFile;

std::filesystem::path wan22_dir() { return test::golden_dir() / "wan22"; }

int64_t scalar_int(const GoldenFile& golden, const std::string& name) {
  return golden.tensor(name).item<int64_t>();
}

// The values every file states the same way: contexts, schedule.
struct Shared {
  at::Tensor context;
  at::Tensor context_null;
  SamplingSettings settings;
};

Shared encode_and_schedule(const GoldenFile& golden, VideoGenerator& generator) {
  const nlohmann::json& config = golden.config();
  Shared shared;
  shared.context = generator.encode(golden.tensor("input.prompt_ids"), golden.tensor("input.prompt_mask"));
  shared.context_null = generator.encode(golden.tensor("input.negative_ids"), golden.tensor("input.negative_mask"));
  shared.settings.sampler = config.at("solver").get<std::string>();
  shared.settings.steps = config.at("steps").get<int>();
  shared.settings.shift = config.at("shift").get<double>();
  if (config.contains("guide_scale_low_high")) {
    shared.settings.guidance = config.at("guide_scale_low_high")[0].get<double>();
    shared.settings.guidance_high = config.at("guide_scale_low_high")[1].get<double>();
  } else {
    shared.settings.guidance = config.at("guide_scale").get<double>();
  }
  return shared;
}

// Records each step under the file's names: "<prefix>noise_pred_cond_step<i>" and so on.
struct StepRecorder {
  std::map<std::string, at::Tensor>& produced;
  std::string output;  // "output." or "output.t2v."
  std::string debug;   // "debug." or "debug.t2v."
  std::vector<int64_t> expert_is_high;
  std::vector<float> guidance_used;

  void operator()(const StepTrace& step) {
    const std::string i = std::to_string(step.step);
    produced[debug + "noise_pred_cond_step" + i] = step.cond.clone();
    produced[debug + "noise_pred_uncond_step" + i] = step.uncond.clone();
    produced[output + "latent_step" + i] = step.latent.clone();
    produced[debug + "scheduler_out_step" + i] = step.sampler_out.clone();
    if (step.token_timesteps.defined()) produced[debug + "timestep_step" + i] = step.token_timesteps.clone();
    expert_is_high.push_back(step.expert == 0 ? 1 : 0);
    guidance_used.push_back(static_cast<float>(step.guidance));
  }
};

void add_schedule(std::map<std::string, at::Tensor>& produced, const std::string& output,
                  const SamplingSettings& settings) {
  const auto sampler = sampling::make_sampler(settings.sampler, settings.steps, settings.shift);
  produced[output + "timesteps"] = at::tensor(sampler->timesteps(), at::kLong);
  produced[output + "sigmas"] = at::tensor(sampler->sigmas(), at::kFloat);
}

// A [H, W, 3] image of bytes stored as int64 in the file, as an RgbImage.
video::RgbImage rgb_image(const at::Tensor& hwc) {
  const at::Tensor bytes = hwc.to(at::kByte).contiguous();
  video::RgbImage image;
  image.height = static_cast<int>(bytes.size(0));
  image.width = static_cast<int>(bytes.size(1));
  image.pixels.assign(bytes.data_ptr<std::uint8_t>(), bytes.data_ptr<std::uint8_t>() + bytes.numel());
  return image;
}

at::Tensor rgb_tensor(const video::RgbImage& image) {
  return at::from_blob(const_cast<std::uint8_t*>(image.pixels.data()), {image.height, image.width, 3}, at::kByte)
      .clone();
}

// The golden pass rule, plus a check that each file proves something.
void expect_all(const GoldenFile& golden, const std::map<std::string, at::Tensor>& produced,
                const std::filesystem::path& path) {
  const size_t outputs = golden.expect_all_match(produced, path.filename().string());
  EXPECT_GT(outputs, 0u) << path.filename() << " holds no output.* tensors";
}

// One file's check: its components loaded and its prompts encoded.
struct FileUnderTest {
  const GoldenFile& golden;
  VideoGenerator& generator;
  const Shared& shared;
  c10::Device device;
};

void check_ti2v(const FileUnderTest& file, std::map<std::string, at::Tensor>& produced) {
  const GoldenFile& golden = file.golden;
  VideoGenerator* const generator = &file.generator;
  const Shared& shared = file.shared;
  const c10::Device device = file.device;
  const nlohmann::json& config = golden.config();
  const int frames = config.at("frames").get<int>();
  const auto seed = config.at("seed").get<std::uint64_t>();

  for (const std::string mode : {"t2v", "i2v"}) {
    if (!golden.has("input." + mode + ".noise")) continue;
    SCOPED_TRACE(mode);
    const std::string output = "output." + mode + ".";
    const std::string debug = "debug." + mode + ".";
    produced[output + "context"] = shared.context;
    produced[output + "context_null"] = shared.context_null;
    add_schedule(produced, output, shared.settings);

    Conditioning conditioning;
    int width = 0;
    int height = 0;
    if (mode == "i2v") {
      // best_output_size over blocks of vae_stride * patch pixels, then the
      // LANCZOS cover and centre crop; the `size` argument plays no part.
      const int dh = config.at("vae_stride")[1].get<int>() * config.at("patch_size")[1].get<int>();
      const int dw = config.at("vae_stride")[2].get<int>() * config.at("patch_size")[2].get<int>();
      const video::RgbImage image = rgb_image(golden.tensor("input.i2v.image_u8"));
      std::tie(width, height) =
          video::best_output_size(image.width, image.height, dw, dh, scalar_int(golden, "input.i2v.max_area"));
      const at::Tensor fitted = rgb_tensor(video::cover_and_center_crop(image, width, height));
      produced[debug + "image_to_tensor"] = fitted.permute({2, 0, 1}).to(at::kFloat).div(255);
      produced[debug + "image"] = image_to_signed_tensor(fitted).unsqueeze(1);
      conditioning.first_frame = generator->first_frame_latent(fitted);
      produced[output + "z_image"] = conditioning.first_frame;
    } else {
      width = static_cast<int>(scalar_int(golden, "input.t2v.width"));
      height = static_cast<int>(scalar_int(golden, "input.t2v.height"));
    }
    const auto shape = generator->latent_shape(frames, height, width);
    const at::Tensor golden_noise = golden.tensor("input." + mode + ".noise");
    // libtorch's CPU generator draws what torch.Generator('cpu') does.
    EXPECT_TRUE(at::equal(generator->initial_noise(seed, shape).cpu(), golden_noise)) << mode << " noise";
    if (conditioning.first_frame.defined()) {
      const at::Tensor mask = first_frame_mask(shape, true, at::TensorOptions().dtype(at::kFloat).device(device));
      produced[debug + "latent_init"] =
          hold_first_frame(golden_noise.to(device), conditioning.first_frame.to(device), mask);
    }

    StepRecorder record{produced, output, debug, {}, {}};
    const at::Tensor latent =
        generator->denoise(golden_noise, shared.context, shared.context_null, shared.settings, nullptr, nullptr,
                           std::ref(record), conditioning);
    // In t2v mode the sampler's output is the next input: the file keeps one.
    if (!conditioning.first_frame.defined()) {
      for (int i = 0; i < shared.settings.steps; ++i) produced.erase(debug + "scheduler_out_step" + std::to_string(i));
    }
    produced[output + "video"] = generator->decode(latent);
  }
}

void check_a14b(const FileUnderTest& file, std::map<std::string, at::Tensor>& produced) {
  const GoldenFile& golden = file.golden;
  VideoGenerator* const generator = &file.generator;
  const Shared& shared = file.shared;
  const nlohmann::json& config = golden.config();
  const int frames = config.at("frames").get<int>();
  produced["output.context"] = shared.context;
  produced["output.context_null"] = shared.context_null;
  add_schedule(produced, "output.", shared.settings);
  EXPECT_DOUBLE_EQ(golden.tensor("input.boundary").item<double>(), static_cast<float>(config.at("boundary").get<double>()));

  Conditioning conditioning;
  std::array<int64_t, 4> shape{};
  if (golden.has("input.image_u8")) {
    // I2V-A14B: y from the image, the latent grid from max_area.
    const at::Tensor image = golden.tensor("input.image_u8").to(at::kByte);
    const auto condition =
        generator->image_condition(image, std::nullopt, frames, scalar_int(golden, "input.max_area"));
    produced["debug.image_to_tensor"] = image.permute({2, 0, 1}).to(at::kFloat).div(255);
    produced["debug.image_resized"] = condition.first;
    produced["output.y"] = condition.y;
    conditioning.y = condition.y;
    shape = generator->latent_shape(frames, static_cast<int>(condition.lat_h * generator->vae().spatial_factor()),
                                    static_cast<int>(condition.lat_w * generator->vae().spatial_factor()));
  } else {
    shape = generator->latent_shape(frames, static_cast<int>(scalar_int(golden, "input.height")),
                                    static_cast<int>(scalar_int(golden, "input.width")));
  }
  const at::Tensor golden_noise = golden.tensor("input.noise");
  EXPECT_TRUE(at::equal(generator->initial_noise(config.at("seed").get<std::uint64_t>(), shape).cpu(), golden_noise))
      << "noise";
  EXPECT_TRUE(generator->experts().back().model.is_empty()) << "the low-noise expert loads when first needed";

  StepRecorder record{produced, "output.", "debug.", {}, {}};
  const at::Tensor latent = generator->denoise(golden_noise, shared.context, shared.context_null, shared.settings,
                                               nullptr, nullptr, std::ref(record), conditioning);
  for (int i = 0; i < shared.settings.steps; ++i) produced.erase("debug.scheduler_out_step" + std::to_string(i));
  produced["output.expert_is_high"] = at::tensor(record.expert_is_high, at::kLong);
  produced["output.guide_scale_used"] = at::tensor(record.guidance_used, at::kFloat);
  produced["output.video"] = generator->decode(latent);
}

void check_every_file(const c10::Device& device) {
  int files = 0;
  for (const auto& [prefix, check] :
       std::vector<std::pair<std::string, void (*)(const FileUnderTest&, std::map<std::string, at::Tensor>&)>>{
           {"wan22_ti2v_pipeline", check_ti2v}, {"wan22_moe_pipeline", check_a14b}, {"wan22_i2v_pipeline", check_a14b}}) {
    for (const auto& path : test::golden_files(wan22_dir(), prefix)) {
      SCOPED_TRACE(path.string());
      std::cout << path.filename().string() << " on " << device << ":\n";
      const GoldenFile golden(path);
      const c10::InferenceMode inference;
      auto generator = test::wan22_components_from_golden(golden, path, device);
      const Shared shared = encode_and_schedule(golden, *generator);
      std::map<std::string, at::Tensor> produced;
      check({golden, *generator, shared, device}, produced);
      expect_all(golden, produced, path);
      ++files;
    }
  }
  EXPECT_GT(files, 0) << "no Wan2.2 pipeline golden files in " << wan22_dir();
}

TEST(Wan22PipelineParity, EveryGoldenFileMatchesTheReference) { check_every_file(c10::kCPU); }

TEST(Wan22PipelineParity, EveryGoldenFileOnCuda) {
  const std::optional<c10::Device> cuda = test::parity_cuda_device();
  if (!cuda) GTEST_SKIP() << test::no_cuda_reason();
  check_every_file(*cuda);
}

}  // namespace
}  // namespace soragen::pipeline
