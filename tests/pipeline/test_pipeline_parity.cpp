// WanT2V.generate end to end against pipeline*.safetensors: the golden token
// ids and noise go in, every context, step latent, model prediction and the
// decoded video must come out as the reference made them.
#include <gtest/gtest.h>

#include <c10/core/InferenceMode.h>

#include <set>

#include "golden_util.h"
#include "io/tensor_source.h"
#include "pipeline/text_to_video.h"
#include "sampling/sampler.h"

namespace soragen::pipeline {
namespace {

std::unique_ptr<TextToVideo> components_from_golden(const nlohmann::json& config) {
  std::unique_ptr<text_encoder::TextEncoder> encoder;
  dit::WanModel dit{nullptr};
  vae::WanVAE vae{nullptr};
  for (const auto& file : config.at("weights_from")) {
    const test::GoldenFile golden(test::golden_dir() / file.get<std::string>());
    const std::string name = file.get<std::string>();
    if (name.rfind("t5_encoder", 0) == 0) {
      encoder = std::make_unique<text_encoder::TextEncoder>(
          text_encoder::parse_umt5_config(golden.config(), name), golden.source());
    } else if (name.rfind("dit", 0) == 0) {
      dit = dit::load_wan_model(dit::DitConfig::from_json(golden.config(), name), golden.source(), Logger());
    } else if (name.rfind("vae", 0) == 0) {
      vae = vae::WanVAE(vae::VaeConfig::from_json(golden.config(), name));
      vae->load_weights(golden.source(), Logger());
    }
  }
  if (!encoder || dit.is_empty() || vae.is_empty()) throw std::runtime_error("weights_from lacks a component");
  return std::make_unique<TextToVideo>(std::move(encoder), std::move(dit), std::move(vae), c10::Device(c10::kCPU));
}

TEST(PipelineParity, EveryGoldenFileMatchesTheReference) {
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
    auto t2v = components_from_golden(config);

    const at::Tensor context = t2v->encode(golden.tensor("input.prompt_ids"), golden.tensor("input.prompt_mask"));
    const at::Tensor context_null =
        t2v->encode(golden.tensor("input.negative_ids"), golden.tensor("input.negative_mask"));
    check("output.context", context);
    check("output.context_null", context_null);

    const int frames = config.at("frames").get<int>();
    const auto shape = t2v->latent_shape(frames, config.at("height").get<int>(), config.at("width").get<int>());
    const at::Tensor noise = t2v->initial_noise(config.at("seed").get<std::uint64_t>(), shape);
    // libtorch's CPU generator draws what torch.Generator('cpu') does.
    EXPECT_TRUE(at::equal(noise, golden.tensor("input.noise")));

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

}  // namespace
}  // namespace soragen::pipeline
