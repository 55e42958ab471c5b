// Samplers against the reference's golden tensors: every schedulers*.safetensors
// (UniPC, DPM++ and Euler schedules and full loops driven by a stand-in model)
// and every pipeline*.safetensors (schedule, CFG and UniPC on the reference's
// own noise predictions). Cases and settings come from each file.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "golden_util.h"
#include "sampling/guidance.h"
#include "sampling/sampler.h"

namespace soragen::sampling {
namespace {

using test::GoldenFile;

// The golden README's stand-in model v(x, t) = 0.3*x + (0.001*t)*cos(x): the
// coefficient 0.001*t formed in double from the int64 timestep, the rest
// elementwise in float32.
at::Tensor stand_in_velocity(const at::Tensor& x, int64_t t) {
  const double coefficient = 0.001 * static_cast<double>(t);
  return x * 0.3 + at::cos(x) * coefficient;
}

at::Tensor int64_tensor(const std::vector<int64_t>& values) {
  return at::tensor(at::ArrayRef<int64_t>(values), at::kLong);
}

at::Tensor float_tensor(const std::vector<float>& values) {
  return at::tensor(at::ArrayRef<float>(values), at::kFloat);
}

// Worst error over a run of tensors and the largest share of the allowed
// error (atol + rtol*|golden|) it uses, for the summary lines.
struct Worst {
  double diff = 0;
  double share = 0;
  void add(const at::Tensor& golden, const at::Tensor& actual, double atol, double rtol) {
    const at::Tensor g = golden.to(at::kDouble);
    const at::Tensor err = (actual.to(at::kCPU, at::kDouble) - g).abs();
    diff = std::max(diff, err.max().item<double>());
    share = std::max(share, (err / (atol + rtol * g.abs())).max().item<double>());
  }
};

// "input.case{K}.num_steps" -> K, for every case the file holds.
std::vector<std::string> discover_cases(const GoldenFile& golden) {
  std::vector<std::string> cases;
  const std::string head = "input.case";
  const std::string tail = ".num_steps";
  for (const auto& name : golden.names_with_prefix(head)) {
    if (name.size() > head.size() + tail.size() && name.compare(name.size() - tail.size(), tail.size(), tail) == 0) {
      cases.push_back(name.substr(head.size(), name.size() - head.size() - tail.size()));
    }
  }
  return cases;
}

struct Solver {
  const char* key;   // the golden file's spelling
  const char* name;  // make_sampler's
};
constexpr Solver kSolvers[] = {{"unipc", "unipc"}, {"dpmpp", "dpm++"}, {"euler", "euler"}};

// Every case and solver of every schedulers* file, the loop on `device`.
void check_schedulers_files(const c10::Device& device) {
  const auto files = test::golden_files("schedulers");
  ASSERT_FALSE(files.empty()) << "no schedulers*.safetensors in " << test::golden_dir();
  for (const auto& path : files) {
    SCOPED_TRACE(path.string());
    const GoldenFile golden(path);
    const auto cases = discover_cases(golden);
    ASSERT_FALSE(cases.empty()) << "no input.case*.num_steps in " << path;
    std::set<std::string> checked;

    for (const auto& k : cases) {
      const std::string in = "input.case" + k;
      const int64_t steps = golden.tensor(in + ".num_steps").item<int64_t>();
      const double shift = golden.tensor(in + ".shift").to(at::kDouble).item<double>();
      const at::Tensor x0 = golden.tensor(in + ".x0").to(device);

      for (const auto& solver : kSolvers) {
        SCOPED_TRACE("case " + k + " (N=" + std::to_string(steps) + ", S=" + std::to_string(shift) + ") " +
                     solver.key);
        const std::string out = "output.case" + k + "." + solver.key;
        auto sampler = make_sampler(solver.name, steps, shift);
        ASSERT_EQ(sampler->num_steps(), steps);

        // Euler runs on the UniPC schedule, which the file stores under unipc.
        const std::string schedule_key = golden.has(out + ".timesteps") ? out : "output.case" + k + ".unipc";
        Worst sigma_err;
        if (golden.has(schedule_key + ".timesteps")) {
          EXPECT_TRUE(golden.matches(schedule_key + ".timesteps", int64_tensor(sampler->timesteps())));
          EXPECT_TRUE(golden.matches(schedule_key + ".sigmas", float_tensor(sampler->sigmas())));
          sigma_err.add(golden.tensor(schedule_key + ".sigmas"), float_tensor(sampler->sigmas()), 1e-6, 0);
          checked.insert(out + ".timesteps");
          checked.insert(out + ".sigmas");
        } else {
          ADD_FAILURE() << "no " << schedule_key << ".timesteps";
        }
        EXPECT_EQ(golden.names_with_prefix(out + ".x_step").size(), static_cast<size_t>(steps))
            << "the file's loop length differs from num_steps";

        Worst step_err;
        at::Tensor x = x0;
        for (int64_t i = 0; i < steps; ++i) {
          const int64_t t = sampler->timesteps()[static_cast<size_t>(i)];
          x = sampler->step(stand_in_velocity(x, t), t, x);
          const std::string key = out + ".x_step" + std::to_string(i);
          ASSERT_TRUE(golden.has(key)) << key;
          const ::testing::AssertionResult match = golden.matches(key, x);
          EXPECT_TRUE(match) << "step " << i << " of " << steps;
          // The first wrong step is the one to look at; later ones repeat it.
          if (!match) break;
          step_err.add(golden.tensor(key), x, golden.atol(), golden.rtol());
          checked.insert(key);
        }
        std::printf("[ parity ] %s case %s %-5s N=%-3lld S=%-4g sigmas max|diff| %.2e (allowed 1e-6); "
                    "x_step* max|diff| %.2e, worst share of allowed %.3f\n",
                    path.filename().c_str(), k.c_str(), solver.key, static_cast<long long>(steps), shift,
                    sigma_err.diff, step_err.diff, step_err.share);
      }
    }
    // Every output the file holds was compared.
    for (const auto& name : golden.names_with_prefix("output.")) {
      EXPECT_TRUE(checked.count(name)) << name << " is in the file but was not checked";
    }
  }
}

TEST(sampler_parity, SchedulersGoldenFilesEveryCaseEverySolver) { check_schedulers_files(c10::kCPU); }

TEST(sampler_parity, SchedulersGoldenFilesOnCuda) {
  const std::optional<c10::Device> cuda = test::parity_cuda_device();
  if (!cuda) GTEST_SKIP() << test::no_cuda_reason();
  check_schedulers_files(*cuda);
}

// The pipeline file's loop on the reference's own predictions, on `device`.
void check_pipeline_loops(const c10::Device& device) {
  const auto files = test::golden_files("pipeline");
  ASSERT_FALSE(files.empty()) << "no pipeline*.safetensors in " << test::golden_dir();
  for (const auto& path : files) {
    SCOPED_TRACE(path.string());
    const GoldenFile golden(path);
    const auto& config = golden.config();
    const std::string solver = config.at("solver").get<std::string>();
    const int64_t steps = config.at("steps").get<int64_t>();
    const double shift = config.at("shift").get<double>();
    const double guide_scale = config.at("guide_scale").get<double>();
    auto sampler = make_sampler(solver, steps, shift);

    EXPECT_TRUE(golden.matches("output.timesteps", int64_tensor(sampler->timesteps())));
    EXPECT_TRUE(golden.matches("output.sigmas", float_tensor(sampler->sigmas())));

    // The denoising loop on the reference's own conditional and unconditional
    // predictions: what is left to match is CFG and the sampler.
    Worst err;
    at::Tensor latent = golden.tensor("input.noise").to(device);
    for (int64_t i = 0; i < steps; ++i) {
      const std::string n = std::to_string(i);
      const int64_t t = sampler->timesteps()[static_cast<size_t>(i)];
      const at::Tensor v = classifier_free_guidance(golden.tensor("debug.noise_pred_cond_step" + n).to(device),
                                                    golden.tensor("debug.noise_pred_uncond_step" + n).to(device),
                                                    guide_scale);
      latent = sampler->step(v, t, latent);
      const ::testing::AssertionResult match = golden.matches("output.latent_step" + n, latent);
      EXPECT_TRUE(match) << "step " << i;
      if (!match) break;
      err.add(golden.tensor("output.latent_step" + n), latent, golden.atol(), golden.rtol());
    }
    EXPECT_EQ(golden.names_with_prefix("output.latent_step").size(), static_cast<size_t>(steps));
    std::printf("[ parity ] %s %s N=%lld S=%g g=%g latent_step* max|diff| %.2e, worst share of allowed %.3f\n",
                path.filename().c_str(), solver.c_str(), static_cast<long long>(steps), shift, guide_scale, err.diff,
                err.share);
  }
}

TEST(sampler_parity, PipelineGoldenScheduleGuidanceAndLatents) { check_pipeline_loops(c10::kCPU); }

TEST(sampler_parity, PipelineGoldenLoopsOnCuda) {
  const std::optional<c10::Device> cuda = test::parity_cuda_device();
  if (!cuda) GTEST_SKIP() << test::no_cuda_reason();
  check_pipeline_loops(*cuda);
}

}  // namespace
}  // namespace soragen::sampling
