// WanT2V.generate end to end against pipeline*.safetensors: the golden token
// ids and noise go in, every context, step latent, model prediction and the
// decoded video must come out as the reference made them.
#include <gtest/gtest.h>

#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <iostream>
#include <set>

#include "golden_components.h"
#include "golden_util.h"
#include "io/tensor_source.h"
#include "pipeline/video_generator.h"
#include "sampling/sampler.h"

namespace soragen::pipeline {
namespace {

// bf16 bounds: 3x the largest bf16-vs-reference difference measured on the
// CPU (2026-12-01, pipeline.safetensors, oneDNN bf16 on an avx512_bf16 EPYC):
// final latent 0.142 (libtorch 1.13) / 0.150 (2.11), video 0.203 / 0.171 in
// [-1, 1]. A porting mistake moves them by 1 or more. The CUDA figure is to
// be measured on the first GPU run (scripts/gpu_check.sh prints it).
constexpr double kBf16LatentBound = 0.45;
constexpr double kBf16VideoBound = 0.6;

void check_every_file(const c10::Device& device) {
  const auto files = test::golden_files("pipeline");
  ASSERT_FALSE(files.empty()) << "no pipeline*.safetensors in " << test::golden_dir();
  for (const auto& path : files) {
    SCOPED_TRACE(path.string());
    const test::GoldenFile golden(path);
    const nlohmann::json& config = golden.config();
    std::set<std::string> checked;
    const auto check = [&](const std::string& name, const at::Tensor& actual) {
      EXPECT_TRUE(golden.matches(name, actual));
      checked.insert(name);
    };
    const c10::InferenceMode inference;
    std::cout << path.filename().string() << " on " << device << "\n";
    auto t2v = test::components_from_golden(config, device);

    const at::Tensor context = t2v->encode(golden.tensor("input.prompt_ids"), golden.tensor("input.prompt_mask"));
    const at::Tensor context_null =
        t2v->encode(golden.tensor("input.negative_ids"), golden.tensor("input.negative_mask"));
    check("output.context", context);
    check("output.context_null", context_null);

    const int frames = config.at("frames").get<int>();
    const auto shape = t2v->latent_shape(frames, config.at("height").get<int>(), config.at("width").get<int>());
    const at::Tensor noise = t2v->initial_noise(config.at("seed").get<std::uint64_t>(), shape);
    // libtorch's CPU generator draws what torch.Generator('cpu') does.
    EXPECT_TRUE(at::equal(noise.cpu(), golden.tensor("input.noise")));

    SamplingSettings settings;
    settings.sampler = config.at("solver").get<std::string>();
    settings.steps = config.at("steps").get<int>();
    settings.shift = config.at("shift").get<double>();
    settings.guidance = config.at("guide_scale").get<double>();
    const auto sampler = sampling::make_sampler(settings.sampler, settings.steps, settings.shift);
    check("output.timesteps", at::tensor(sampler->timesteps(), at::kLong));
    check("output.sigmas", at::tensor(sampler->sigmas(), at::kFloat));

    // The golden noise, not ours, so a generator difference cannot hide here.
    const at::Tensor latent = t2v->denoise(
        golden.tensor("input.noise"), context, context_null, settings, nullptr, nullptr,
        [&](const StepTrace& step) {
          const std::string i = std::to_string(step.step);
          check("debug.noise_pred_cond_step" + i, step.cond);
          check("debug.noise_pred_uncond_step" + i, step.uncond);
          check("output.latent_step" + i, step.latent);
        });
    check("output.video", t2v->decode(latent));

    for (const auto& name : golden.source().names()) {
      if (name.rfind("output.", 0) == 0 || name.rfind("debug.", 0) == 0) {
        EXPECT_TRUE(checked.count(name)) << name << " was not compared";
      }
    }
  }
}

// The golden README: bf16 results are not comparable at the fp32
// tolerances. What bf16 weights and activations (the GPU setting; the VAE
// stays fp32) cost against the fp32 reference, as the largest |difference|
// over the final latent and the decoded video of every pipeline file.
struct Bf16Error {
  double latent = 0;
  double video = 0;
};

Bf16Error bf16_error(const c10::Device& device) {
  Bf16Error worst;
  const auto files = test::golden_files("pipeline");
  if (files.empty()) throw std::runtime_error("no pipeline*.safetensors in " + test::golden_dir().string());
  for (const auto& path : files) {
    const test::GoldenFile golden(path);
    const nlohmann::json& config = golden.config();
    const c10::InferenceMode inference;
    auto t2v = test::components_from_golden(config, device, at::kBFloat16);
    const at::Tensor context = t2v->encode(golden.tensor("input.prompt_ids"), golden.tensor("input.prompt_mask"));
    const at::Tensor context_null =
        t2v->encode(golden.tensor("input.negative_ids"), golden.tensor("input.negative_mask"));
    SamplingSettings settings;
    settings.sampler = config.at("solver").get<std::string>();
    settings.steps = config.at("steps").get<int>();
    settings.shift = config.at("shift").get<double>();
    settings.guidance = config.at("guide_scale").get<double>();
    const at::Tensor latent = t2v->denoise(golden.tensor("input.noise"), context, context_null, settings);
    const std::string last = "output.latent_step" + std::to_string(settings.steps - 1);
    const auto max_diff = [](const at::Tensor& a, const at::Tensor& b) {
      return (a.to(at::kCPU, at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
    };
    worst.latent = std::max(worst.latent, max_diff(latent, golden.tensor(last)));
    worst.video = std::max(worst.video, max_diff(t2v->decode(latent), golden.tensor("output.video")));
  }
  std::cout << "bf16 on " << device << ": final latent max |diff| " << worst.latent << ", video max |diff| "
            << worst.video << " (bounds " << kBf16LatentBound << ", " << kBf16VideoBound << ")\n";
  return worst;
}

TEST(PipelineParity, EveryGoldenFileMatchesTheReference) { check_every_file(c10::kCPU); }

TEST(PipelineParity, Bf16OnTheCpuStaysNearTheReference) {
  const Bf16Error error = bf16_error(c10::kCPU);
  EXPECT_LE(error.latent, kBf16LatentBound);
  EXPECT_LE(error.video, kBf16VideoBound);
}

TEST(PipelineParity, Bf16OnCudaStaysNearTheReference) {
  const std::optional<c10::Device> cuda = test::parity_cuda_device();
  if (!cuda) GTEST_SKIP() << test::no_cuda_reason();
  const Bf16Error error = bf16_error(*cuda);
  EXPECT_LE(error.latent, kBf16LatentBound);
  EXPECT_LE(error.video, kBf16VideoBound);
}

TEST(PipelineParity, EveryGoldenFileOnCuda) {
  const std::optional<c10::Device> cuda = test::parity_cuda_device();
  if (!cuda) GTEST_SKIP() << test::no_cuda_reason();
  check_every_file(*cuda);
}

}  // namespace
}  // namespace soragen::pipeline
