// Schedules, factory errors and solver invariants, without golden files.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "sampling/guidance.h"
#include "sampling/sampler.h"
#include "sampling/schedule.h"
#include "soragen/error.h"
#include "soragen/options.h"

namespace soragen::sampling {
namespace {

const std::vector<double> kShifts = {0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 7.0, 8.0, 10.0, 12.0, 17.5, 100.0};

// The exact first UniPC sigma before shifting: float32(0.999).
const double kUniPCStart = static_cast<double>(0.999f);

double shifted(double s, double shift) { return shift * s / (1.0 + (shift - 1.0) * s); }

void expect_schedule_properties(const Schedule& schedule, int64_t steps, double shift, double start) {
  ASSERT_EQ(schedule.timesteps.size(), static_cast<size_t>(steps));
  ASSERT_EQ(schedule.sigmas.size(), static_cast<size_t>(steps) + 1);
  EXPECT_EQ(schedule.sigmas.back(), 0.0f);
  EXPECT_EQ(schedule.sigmas.front(), static_cast<float>(shifted(start, shift)));
  for (int64_t k = 0; k < steps; ++k) {
    const auto i = static_cast<size_t>(k);
    const float sigma = schedule.sigmas[i];
    const int64_t t = schedule.timesteps[i];
    // The shift of linspace(start, 0, N+1), within float32 rounding.
    const double expected = shifted(start * (1.0 - static_cast<double>(k) / static_cast<double>(steps)), shift);
    EXPECT_NEAR(sigma, expected, 1e-7) << "k=" << k;
    EXPECT_GT(sigma, 0.0f);
    EXPECT_LE(sigma, 1.0f);
    EXPECT_GT(sigma, schedule.sigmas[i + 1]) << "sigmas strictly decrease, k=" << k;
    // The timestep is the truncation of sigma*1000 (computed in double, so the
    // float sigma can sit a hair either side of the integer).
    EXPECT_GE(sigma * 1000.0 + 1e-3, static_cast<double>(t)) << "k=" << k;
    EXPECT_LT(sigma * 1000.0 - 1e-3, static_cast<double>(t + 1)) << "k=" << k;
    EXPECT_GE(t, 0);
    EXPECT_LE(t, kNumTrainTimesteps);
    if (k > 0) {
      EXPECT_LE(t, schedule.timesteps[i - 1]) << "timesteps never increase, k=" << k;
    }
  }
}

TEST(sampler_schedule, BruteForcePropertiesOverStepsAndShifts) {
  for (int64_t steps = 1; steps <= 1000; steps += (steps < 80 ? 1 : 37)) {
    for (double shift : kShifts) {
      SCOPED_TRACE("N=" + std::to_string(steps) + " S=" + std::to_string(shift));
      const Schedule unipc = unipc_schedule(steps, shift);
      const Schedule dpmpp = dpmpp_schedule(steps, shift);
      expect_schedule_properties(unipc, steps, shift, kUniPCStart);
      expect_schedule_properties(dpmpp, steps, shift, 1.0);
      // DPM++ starts at sigma 1 exactly (trap 23), so at timestep 1000.
      EXPECT_EQ(dpmpp.sigmas.front(), 1.0f);
      EXPECT_EQ(dpmpp.timesteps.front(), 1000);
      // UniPC's first timestep: 999 from shift 1 up (a shift below 1 lowers it).
      if (shift >= 1.0) {
        EXPECT_EQ(unipc.timesteps.front(), 999);
      }
      // A larger shift keeps more of the schedule at high noise.
      if (shift > 1.0) {
        const Schedule lower = unipc_schedule(steps, shift / 2);
        for (size_t i = 0; i < unipc.sigmas.size(); ++i) EXPECT_GE(unipc.sigmas[i], lower.sigmas[i]);
      }
    }
  }
}

TEST(sampler_schedule, UniPCStartsAtFloat32Of0999) {
  // Golden README trap 21: float32(0.999) gives 666 at k=4 of N=12, S=1,
  // where 0.999 would give 665.
  const Schedule schedule = unipc_schedule(12, 1.0);
  EXPECT_EQ(schedule.timesteps[4], 666);
  EXPECT_EQ(flow_schedule(12, 1.0, 0.999).timesteps[4], 665);
  // The README's pipeline schedule (4 steps, shift 5).
  EXPECT_EQ(unipc_schedule(4, 5.0).timesteps, (std::vector<int64_t>{999, 937, 833, 624}));
}

TEST(sampler_factory, RejectsUnknownNamesAndBadSettings) {
  for (const std::string name : {"ddim", "UniPC", "dpmpp", "", "euler "}) {
    try {
      (void)make_sampler(name, 10, 5.0);
      ADD_FAILURE() << "no error for '" << name << "'";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("'" + name + "'"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("unipc, dpm++ or euler"), std::string::npos) << e.what();
    }
  }
  for (const char* name : kSamplerNames) {
    for (int64_t steps : {int64_t{0}, int64_t{-3}, kNumTrainTimesteps + 1}) {
      EXPECT_THROW(make_sampler(name, steps, 5.0), UsageError) << name << " steps " << steps;
    }
    for (double shift : {0.0, -1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
      EXPECT_THROW(make_sampler(name, 10, shift), UsageError) << name << " shift " << shift;
    }
  }
}

TEST(sampler_factory, BuildsEveryCliSamplerOnItsSchedule) {
  for (const char* name : kSamplerNames) {
    auto sampler = make_sampler(name, 7, 3.0);
    EXPECT_EQ(std::string(sampler->name()), name);
    EXPECT_EQ(sampler->num_steps(), 7);
    const Schedule expected = std::string(name) == "dpm++" ? dpmpp_schedule(7, 3.0) : unipc_schedule(7, 3.0);
    EXPECT_EQ(sampler->timesteps(), expected.timesteps) << name;
    EXPECT_EQ(sampler->sigmas(), expected.sigmas) << name;
  }
}

TEST(sampler_step, RejectsOutOfOrderStepsAndShapeMismatch) {
  for (const char* name : kSamplerNames) {
    auto sampler = make_sampler(name, 2, 5.0);
    const at::Tensor x = at::ones({2, 3});
    const int64_t t0 = sampler->timesteps()[0];
    const int64_t t1 = sampler->timesteps()[1];
    EXPECT_THROW(sampler->step(x, t1, x), InternalError) << name;
    EXPECT_THROW(sampler->step(at::ones({3, 2}), t0, x), InternalError) << name;
    EXPECT_EQ(sampler->steps_done(), 0);
    at::Tensor y = sampler->step(x, t0, x);
    y = sampler->step(x, t1, y);
    EXPECT_THROW(sampler->step(x, t1, y), InternalError) << name << ": stepping past the end";
  }
}

// Straight-line flow: x_sigma = (1 - sigma) data + sigma noise has the constant
// velocity noise - data, so every step's data prediction is exact and every
// solver must end on the data.
TEST(sampler_step, StraightFlowEndsOnTheData) {
  const at::Tensor data = at::randn({2, 4, 3, 5}, at::detail::createCPUGenerator(7));
  const at::Tensor noise = at::randn({2, 4, 3, 5}, at::detail::createCPUGenerator(8));
  const at::Tensor velocity = noise - data;
  for (const char* name : kSamplerNames) {
    for (int64_t steps : {1, 2, 3, 10, 50}) {
      auto sampler = make_sampler(name, steps, 5.0);
      const float sigma0 = sampler->sigmas()[0];
      at::Tensor x = data * (1.0f - sigma0) + noise * sigma0;
      for (int64_t t : sampler->timesteps()) x = sampler->step(velocity, t, x);
      EXPECT_TRUE(at::allclose(x, data, 0, 1e-5)) << name << " N=" << steps << " max|diff| "
                                                   << (x - data).abs().max().item<double>();
    }
  }
}

// sigma_N = 0 makes the last UniPC and DPM++ step return the data prediction
// x - sigma*v exactly, through lambda = +inf (trap 23): no NaN, no clamp.
TEST(sampler_step, LastStepIsExactlyTheDataPrediction) {
  const at::Tensor x = at::randn({3, 8}, at::detail::createCPUGenerator(3));
  const at::Tensor v = at::randn({3, 8}, at::detail::createCPUGenerator(4));
  for (const char* name : {"unipc", "dpm++"}) {
    auto sampler = make_sampler(name, 1, 5.0);
    const at::Tensor out = sampler->step(v, sampler->timesteps()[0], x);
    EXPECT_TRUE(at::equal(out, x - v * sampler->sigmas()[0])) << name;
  }
}

TEST(sampler_step, StateIsFloat32AndResetReplaysTheTrajectory) {
  const at::Tensor x0 = at::randn({2, 16, 2, 4, 4}, at::detail::createCPUGenerator(11));
  for (const char* name : kSamplerNames) {
    auto sampler = make_sampler(name, 6, 8.0);
    auto run = [&] {
      at::Tensor x = x0;
      for (int64_t t : sampler->timesteps()) {
        // A bfloat16 model output is widened; the sample stays float32.
        const at::Tensor v = (x * 0.5 + at::sin(x)).to(at::kBFloat16);
        x = sampler->step(v, t, x);
        EXPECT_EQ(x.scalar_type(), at::kFloat) << name;
      }
      return x;
    };
    const at::Tensor first = run();
    EXPECT_EQ(sampler->steps_done(), 6);
    sampler->reset();
    EXPECT_EQ(sampler->steps_done(), 0);
    EXPECT_TRUE(at::equal(run(), first)) << name;
    EXPECT_TRUE(at::isfinite(first).all().item<bool>()) << name;
  }
}

// start_at(k) joins the schedule at step k with no history: the straight
// flow started there from the data noised to sigmas[k] still ends on the
// data, and a sampler that had taken steps before start_at behaves exactly
// as a fresh one started at k (video to video, conditioning.h).
TEST(sampler_step, StartAtJoinsTheSchedulePartWayWithNoHistory) {
  const at::Tensor data = at::randn({2, 4, 3, 5}, at::detail::createCPUGenerator(17));
  const at::Tensor noise = at::randn({2, 4, 3, 5}, at::detail::createCPUGenerator(18));
  const at::Tensor velocity = noise - data;
  for (const char* name : kSamplerNames) {
    for (int64_t start : {1, 3, 7}) {
      auto sampler = make_sampler(name, 10, 5.0);
      sampler->start_at(start);
      EXPECT_EQ(sampler->steps_done(), start);
      const float sigma = sampler->sigmas()[static_cast<size_t>(start)];
      at::Tensor x = data * (1.0f - sigma) + noise * sigma;
      for (size_t i = static_cast<size_t>(start); i < sampler->timesteps().size(); ++i) {
        x = sampler->step(velocity, sampler->timesteps()[i], x);
      }
      EXPECT_TRUE(at::allclose(x, data, 0, 1e-5)) << name << " from " << start;
    }
    // History before start_at is forgotten: a curved flow from step 4 gives
    // the same trajectory on a used sampler as on a fresh one.
    const auto curved = [](const at::Tensor& x) { return x * 0.5 + at::sin(x); };
    auto used = make_sampler(name, 8, 5.0);
    at::Tensor y = noise;
    for (size_t i = 0; i < 3; ++i) y = used->step(curved(y), used->timesteps()[i], y);
    used->start_at(4);
    auto fresh = make_sampler(name, 8, 5.0);
    fresh->start_at(4);
    at::Tensor a = data, b = data;
    for (size_t i = 4; i < 8; ++i) {
      a = used->step(curved(a), used->timesteps()[i], a);
      b = fresh->step(curved(b), fresh->timesteps()[i], b);
    }
    EXPECT_TRUE(at::equal(a, b)) << name;
    // Out of range, and no step left after start_at(num_steps).
    EXPECT_THROW(fresh->start_at(9), InternalError) << name;
    fresh->start_at(8);
    EXPECT_THROW(fresh->step(velocity, 0, data), InternalError) << name;
  }
}

TEST(sampler_step, SolversDifferFromEachOther) {
  // The multistep corrections are live: on a curved field the three solvers
  // end at different points.
  const at::Tensor x0 = at::randn({4, 8}, at::detail::createCPUGenerator(5));
  std::vector<at::Tensor> ends;
  for (const char* name : kSamplerNames) {
    auto sampler = make_sampler(name, 8, 5.0);
    at::Tensor x = x0;
    for (int64_t t : sampler->timesteps()) x = sampler->step(x * 0.3 + at::cos(x) * (0.001 * t), t, x);
    ends.push_back(x);
  }
  EXPECT_GT((ends[0] - ends[1]).abs().max().item<double>(), 1e-4);
  EXPECT_GT((ends[0] - ends[2]).abs().max().item<double>(), 1e-4);
  EXPECT_GT((ends[1] - ends[2]).abs().max().item<double>(), 1e-4);
}

TEST(sampler_guidance, IsUncondPlusScaleTimesDifference) {
  const at::Tensor cond = at::tensor({1.0f, -2.0f, 0.5f});
  const at::Tensor uncond = at::tensor({0.5f, 1.0f, 0.5f});
  EXPECT_TRUE(at::equal(classifier_free_guidance(cond, uncond, 1.0), cond));
  EXPECT_TRUE(at::equal(classifier_free_guidance(cond, uncond, 0.0), uncond));
  EXPECT_TRUE(at::equal(classifier_free_guidance(cond, uncond, 5.0), at::tensor({3.0f, -14.0f, 0.5f})));
}

// By hand: cond (2, 0), uncond (2, 2): s* = 4 / 8 = 0.5, s* uncond = (1, 1),
// so scale 2 gives (1, 1) + 2 * ((2, 0) - (1, 1)) = (3, -1); plain CFG would
// give (2, -2). Where uncond is parallel to cond, s* uncond = cond and every
// scale gives cond.
TEST(sampler_guidance, CfgZeroStarScalesUncondByItsBestFit) {
  const at::Tensor cond = at::tensor({2.0f, 0.0f});
  const at::Tensor uncond = at::tensor({2.0f, 2.0f});
  EXPECT_TRUE(at::allclose(cfg_zero_star(cond, uncond, 2.0), at::tensor({3.0f, -1.0f}), 1e-6, 1e-6))
      << cfg_zero_star(cond, uncond, 2.0);
  EXPECT_TRUE(at::allclose(cfg_zero_star(cond, uncond, 1.0), cond, 1e-6, 1e-6));
  EXPECT_TRUE(at::allclose(cfg_zero_star(cond, uncond, 0.0), at::tensor({1.0f, 1.0f}), 1e-6, 1e-6));
  const at::Tensor parallel = at::tensor({4.0f, 0.0f});
  EXPECT_TRUE(at::allclose(cfg_zero_star(cond, parallel, 7.0), cond, 1e-6, 1e-6));
  // A zero uncond leaves s* = 0 (the 1e-8 keeps it finite): scale * cond.
  EXPECT_TRUE(at::allclose(cfg_zero_star(cond, at::zeros({2}), 3.0), at::tensor({6.0f, 0.0f})));
}

// APG by hand, on x0 predictions cond = (3, 4), uncond = (3, 0): D = (0, 4),
// D_par = (<D, c> / |c|^2) c = 16/25 (3, 4) = (1.92, 2.56), D_orth =
// (-1.92, 1.44). eta 0, scale 2: cond + D_orth = (1.08, 5.44).
TEST(sampler_guidance, AdaptiveProjectedGuidanceKeepsTheOrthogonalPart) {
  const at::Tensor cond = at::tensor({3.0f, 4.0f});
  const at::Tensor uncond = at::tensor({3.0f, 0.0f});
  AdaptiveProjectedGuidance plain({0.0, 0.0, 0.0});
  EXPECT_TRUE(at::allclose(plain.guide(cond, uncond, 2.0), at::tensor({1.08f, 5.44f}), 1e-5, 1e-5))
      << plain.guide(cond, uncond, 2.0);
  // Without momentum a second step is the same again; scale 1 is cond.
  EXPECT_TRUE(at::allclose(plain.guide(cond, uncond, 2.0), at::tensor({1.08f, 5.44f}), 1e-5, 1e-5));
  EXPECT_TRUE(at::allclose(plain.guide(cond, uncond, 1.0), cond));
  // eta 1 keeps the parallel part too: plain CFG, uncond + 2 (cond - uncond) = (3, 8).
  AdaptiveProjectedGuidance whole({1.0, 0.0, 0.0});
  EXPECT_TRUE(at::allclose(whole.guide(cond, uncond, 2.0), at::tensor({3.0f, 8.0f}), 1e-5, 1e-5));
}

// Momentum -0.5: the first step's D is (0, 4); the second's is (0, 4) - 0.5 *
// (0, 4) = (0, 2), whose D_par = 8/25 (3, 4) = (0.96, 1.28) and D_orth =
// (-0.96, 0.72): (2.04, 4.72). A norm cap of 2 makes D = (0, 2) at once; a cap
// of 10 does nothing.
TEST(sampler_guidance, AdaptiveProjectedGuidanceMomentumAndNormCap) {
  const at::Tensor cond = at::tensor({3.0f, 4.0f});
  const at::Tensor uncond = at::tensor({3.0f, 0.0f});
  AdaptiveProjectedGuidance momentum({0.0, -0.5, 0.0});
  EXPECT_TRUE(at::allclose(momentum.guide(cond, uncond, 2.0), at::tensor({1.08f, 5.44f}), 1e-5, 1e-5));
  EXPECT_TRUE(at::allclose(momentum.guide(cond, uncond, 2.0), at::tensor({2.04f, 4.72f}), 1e-5, 1e-5))
      << "the second step's update is D + beta * the first";
  AdaptiveProjectedGuidance capped({0.0, 0.0, 2.0});
  EXPECT_TRUE(at::allclose(capped.guide(cond, uncond, 2.0), at::tensor({2.04f, 4.72f}), 1e-5, 1e-5));
  AdaptiveProjectedGuidance loose({0.0, 0.0, 10.0});
  EXPECT_TRUE(at::allclose(loose.guide(cond, uncond, 2.0), at::tensor({1.08f, 5.44f}), 1e-5, 1e-5));
  // A zero cond has no direction: the update is all orthogonal, plain CFG.
  AdaptiveProjectedGuidance zero({0.0, 0.0, 0.0});
  EXPECT_TRUE(at::allclose(zero.guide(at::zeros({2}), uncond, 2.0), at::tensor({-3.0f, 0.0f}), 1e-5, 1e-5));
}

// The same case as velocities of sample x = (1, 1) at sigma 0.5 (x0 = x -
// sigma v): v_cond = (-4, -6), v_uncond = (-4, 2). The guided x0 (1.08, 5.44)
// is the velocity ((1 - 1.08) / 0.5, (1 - 5.44) / 0.5) = (-0.16, -8.88).
TEST(sampler_guidance, AdaptiveProjectedGuidanceOnVelocitiesGuidesTheDenoisedPrediction) {
  AdaptiveProjectedGuidance apg({0.0, 0.0, 0.0});
  const at::Tensor guided =
      apg.guide_velocity(at::tensor({-4.0f, -6.0f}), at::tensor({-4.0f, 2.0f}), at::tensor({1.0f, 1.0f}), 0.5, 2.0);
  EXPECT_TRUE(at::allclose(guided, at::tensor({-0.16f, -8.88f}), 1e-5, 1e-5)) << guided;
}

// SD3.5's skip-layer term: guided (1, 1) + 2.5 * ((2, 3) - (1, 1)) = (3.5, 6).
TEST(sampler_guidance, SkipLayerGuidanceAddsTheSkippedDifference) {
  const at::Tensor v = skip_layer_guidance(at::tensor({1.0f, 1.0f}), at::tensor({2.0f, 3.0f}),
                                           at::tensor({1.0f, 1.0f}), 2.5);
  EXPECT_TRUE(at::allclose(v, at::tensor({3.5f, 6.0f}))) << v;
  EXPECT_TRUE(at::equal(skip_layer_guidance(at::tensor({1.0f, 1.0f}), at::tensor({2.0f, 3.0f}),
                                            at::tensor({2.0f, 3.0f}), 2.5),
                        at::tensor({1.0f, 1.0f})));
}

}  // namespace
}  // namespace soragen::sampling
