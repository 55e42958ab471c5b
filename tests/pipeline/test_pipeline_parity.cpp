// WanT2V.generate end to end against pipeline*.safetensors: the golden token
// ids and noise go in, every context, step latent, model prediction and the
// decoded video must come out as the reference made them.
#include <gtest/gtest.h>

#include <c10/core/InferenceMode.h>

#include <iostream>
#include <set>

#include "golden_components.h"
#include "golden_util.h"
#include "io/tensor_source.h"
#include "pipeline/text_to_video.h"
#include "sampling/sampler.h"

namespace soragen::pipeline {
namespace {

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

TEST(PipelineParity, EveryGoldenFileMatchesTheReference) { check_every_file(c10::kCPU); }

TEST(PipelineParity, EveryGoldenFileOnCuda) {
  const std::optional<c10::Device> cuda = test::parity_cuda_device();
  if (!cuda) GTEST_SKIP() << test::no_cuda_reason();
  check_every_file(*cuda);
}

}  // namespace
}  // namespace soragen::pipeline
