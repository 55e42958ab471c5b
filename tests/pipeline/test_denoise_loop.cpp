// The denoising loop never waits for the device: the only device-to-host
// reads inside VideoGenerator::denoise are the NaN/Inf guard's, every
// NonFiniteGuard::kCheckEvery steps and at the end; the RoPE rotations are
// built once per shape; a bad step is still named exactly.
//
// On the CPU this counts aten::_local_scalar_dense (what every .item() and
// every bool test of a tensor goes through) outside the samplers' host-only
// scalar maths. On CUDA it also counts every synchronisation the CUDA runtime
// reports (c10's sync debug mode), which catches copies too.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/record_function.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#if SORAGEN_WITH_CUDA
#include <c10/cuda/CUDAFunctions.h>
#endif

#include "expect_throw.h"
#include "golden_loop.h"
#include "sampling/flow_math.h"
#include "sampling/sampler.h"
#include "soragen/error.h"

namespace soragen::pipeline {
namespace {

// Counts the device-to-host scalar reads of the thread while alive.
class ScalarReadCounter {
 public:
  ScalarReadCounter() {
    handle_ = at::addThreadLocalCallback(
        at::RecordFunctionCallback(
            [](const at::RecordFunction& fn) -> std::unique_ptr<at::ObserverContext> {
              if (std::strcmp(fn.name(), sampling::kHostScalarScope) == 0) ++host_depth();
              if (host_depth() == 0 && std::strcmp(fn.name(), "aten::_local_scalar_dense") == 0) ++reads();
              return nullptr;
            },
            [](const at::RecordFunction& fn, at::ObserverContext*) {
              if (std::strcmp(fn.name(), sampling::kHostScalarScope) == 0) --host_depth();
            })
            .needsInputs(false));
    reads() = 0;
    host_depth() = 0;
  }
  ~ScalarReadCounter() { at::removeCallback(handle_); }
  ScalarReadCounter(const ScalarReadCounter&) = delete;
  ScalarReadCounter& operator=(const ScalarReadCounter&) = delete;

  int count() const { return reads(); }

 private:
  static int& reads() {
    thread_local int value = 0;
    return value;
  }
  static int& host_depth() {
    thread_local int value = 0;
    return value;
  }
  at::CallbackHandle handle_;
};

using test::golden_loop;
using test::Loop;

int guard_reads(int steps) { return steps / NonFiniteGuard::kCheckEvery + 1; }

TEST(DenoiseLoop, ReadsTheDeviceOnlyForTheNonFiniteGuard) {
  const c10::InferenceMode inference;
  for (const int steps : {3, 10, 12}) {
    SCOPED_TRACE(std::to_string(steps) + " steps");
    Loop loop = golden_loop(c10::kCPU, steps);
    int reads = 0;
    {
      const ScalarReadCounter counter;
      loop.t2v->denoise(loop.noise, loop.context, loop.context_null, loop.settings);
      reads = counter.count();
    }
    EXPECT_EQ(reads, guard_reads(steps));
  }
}

// Latent replacement puts the known frames back at every step, ending at
// sigma 0 on them exactly, and leaves the others to the model; video to
// video started at the last step runs nothing and returns the clip's latent.
TEST(DenoiseLoop, KnownFramesEndExactAndALateStartReturnsTheInit) {
  const c10::InferenceMode inference;
  Loop loop = golden_loop(c10::kCPU, 4);
  const at::Tensor plain = loop.t2v->denoise(loop.noise, loop.context, loop.context_null, loop.settings);
  Conditioning known;
  known.known = at::randn(loop.noise.sizes(), at::detail::createCPUGenerator(5));
  known.known_mask = at::zeros({1, loop.noise.size(1), 1, 1});
  known.known_mask.narrow(1, 0, 1).fill_(1);
  int steps = 0;
  const at::Tensor replaced = loop.t2v->denoise(loop.noise, loop.context, loop.context_null, loop.settings,
                                                [&](int, int) { ++steps; }, nullptr, nullptr, known);
  EXPECT_EQ(steps, 4);
  EXPECT_TRUE(at::equal(replaced.narrow(1, 0, 1), known.known.narrow(1, 0, 1)));
  EXPECT_FALSE(at::equal(replaced.narrow(1, 1, replaced.size(1) - 1), plain.narrow(1, 1, plain.size(1) - 1)))
      << "the free frames must see the known ones";

  Conditioning late;
  late.init = known.known;
  late.start_step = 4;
  steps = 0;
  const at::Tensor kept = loop.t2v->denoise(loop.noise, loop.context, loop.context_null, loop.settings,
                                            [&](int, int) { ++steps; }, nullptr, nullptr, late);
  EXPECT_EQ(steps, 0);
  EXPECT_TRUE(at::equal(kept, late.init));
  // From step 2 of 4: two steps run, and the result differs from both ends.
  late.start_step = 2;
  const at::Tensor half = loop.t2v->denoise(loop.noise, loop.context, loop.context_null, loop.settings,
                                            [&](int, int) { ++steps; }, nullptr, nullptr, late);
  EXPECT_EQ(steps, 2);
  EXPECT_FALSE(at::equal(half, late.init));
  EXPECT_FALSE(at::equal(half, plain));
}

// --preview's hook: every N steps the step's denoised estimate x0 = x_t -
// sigma * v, and at the end the final latent; the trajectory is unchanged.
TEST(DenoiseLoop, PreviewShowsTheDenoisedEstimateEveryNStepsAndTheFinalLatent) {
  const c10::InferenceMode inference;
  Loop loop = golden_loop(c10::kCPU, 5);
  loop.settings.sampler = "euler";
  const at::Tensor plain = loop.t2v->denoise(loop.noise, loop.context, loop.context_null, loop.settings);
  std::vector<at::Tensor> latents{loop.noise.to(at::kFloat)};  // x_0 .. x_5
  std::vector<std::pair<int, int>> shown;
  std::vector<at::Tensor> estimates;
  DenoisedPreview preview;
  preview.every = 2;
  preview.show = [&](const at::Tensor& x0, int step, int total) {
    shown.emplace_back(step, total);
    estimates.push_back(x0.clone());
  };
  const at::Tensor final = loop.t2v->denoise(
      loop.noise, loop.context, loop.context_null, loop.settings, nullptr, nullptr,
      [&](const StepTrace& step) { latents.push_back(step.latent.clone()); }, {}, preview);
  EXPECT_TRUE(at::equal(final, plain));
  ASSERT_EQ(shown, (std::vector<std::pair<int, int>>{{2, 5}, {4, 5}, {5, 5}}));
  // Euler steps x_{i+1} = x_i + (sigma_{i+1} - sigma_i) v_i: v_i, and so
  // x0_i = x_i - sigma_i v_i, follow from two consecutive latents.
  const std::vector<float> sigmas = sampling::make_sampler("euler", 5, loop.settings.shift)->sigmas();
  for (const auto& [estimate, i] : {std::pair{estimates[0], 1}, std::pair{estimates[1], 3}}) {
    const at::Tensor v = (latents[i + 1] - latents[i]) / (sigmas[i + 1] - sigmas[i]);
    const at::Tensor expected = latents[i] - sigmas[i] * v;
    EXPECT_TRUE(at::allclose(estimate, expected, 1e-4, 1e-4)) << i << ": " << (estimate - expected).abs().max();
  }
  EXPECT_TRUE(at::equal(estimates[2], final));
}

// Guidance 1 runs the conditional half alone: the same latent as the
// reference's full CFG arithmetic (what a trace gets) within rounding, and a
// different one from any other scale.
TEST(DenoiseLoop, GuidanceOneSkipsTheUnconditionalPass) {
  const c10::InferenceMode inference;
  Loop loop = golden_loop(c10::kCPU, 3);
  loop.settings.guidance = 1.0;
  const at::Tensor skipped = loop.t2v->denoise(loop.noise, loop.context, loop.context_null, loop.settings);
  int traced_steps = 0;
  const at::Tensor both = loop.t2v->denoise(loop.noise, loop.context, loop.context_null, loop.settings, nullptr,
                                            nullptr, [&](const StepTrace& step) {
                                              ++traced_steps;
                                              EXPECT_TRUE(step.uncond.defined());
                                            });
  EXPECT_EQ(traced_steps, 3);
  EXPECT_TRUE(at::allclose(skipped, both, 1e-5, 1e-5)) << (skipped - both).abs().max().item<double>();
  // The context_null is not used at all: garbage there changes nothing.
  const at::Tensor garbage = loop.t2v->denoise(loop.noise, loop.context, loop.context_null * 1e3, loop.settings);
  EXPECT_TRUE(at::equal(skipped, garbage));
  loop.settings.guidance = 1.5;
  const at::Tensor guided = loop.t2v->denoise(loop.noise, loop.context, loop.context_null, loop.settings);
  EXPECT_FALSE(at::allclose(skipped, guided, 1e-5, 1e-5));
}

// CFG-Zero*: the first step's velocity is zero, so an Euler step leaves the
// noise as it is; the result differs from plain CFG.
TEST(DenoiseLoop, CfgZeroStarStartsWithAZeroStep) {
  const c10::InferenceMode inference;
  Loop loop = golden_loop(c10::kCPU, 3);
  loop.settings.sampler = "euler";
  const at::Tensor plain = loop.t2v->denoise(loop.noise, loop.context, loop.context_null, loop.settings);
  loop.settings.guidance_method = "cfg-zero-star";
  at::Tensor first;
  const at::Tensor zero_star = loop.t2v->denoise(loop.noise, loop.context, loop.context_null, loop.settings, nullptr,
                                                 nullptr, [&](const StepTrace& step) {
                                                   if (step.step == 0) first = step.sampler_out.clone();
                                                 });
  ASSERT_TRUE(first.defined());
  EXPECT_TRUE(at::equal(first, loop.noise.to(first.scalar_type())));
  EXPECT_FALSE(at::allclose(plain, zero_star, 1e-4, 1e-4));
}

// slg: on its active steps the unconditional prediction is the DiT's with
// the blocks skipped, the conditional one the DiT's whole.
TEST(DenoiseLoop, SkipLayerGuidanceSkipsBlocksInTheUnconditionalPass) {
  const c10::InferenceMode inference;
  Loop loop = golden_loop(c10::kCPU, 2);
  loop.settings.guidance_method = "slg:layers=0,start=0,end=1";
  at::Tensor cond, uncond;
  int64_t timestep = 0;
  loop.t2v->denoise(loop.noise, loop.context, loop.context_null, loop.settings, nullptr, nullptr,
                    [&](const StepTrace& step) {
                      if (step.step != 0) return;
                      cond = step.cond.clone();
                      uncond = step.uncond.clone();
                      timestep = step.timestep;
                    });
  ASSERT_TRUE(uncond.defined());
  const dit::WanModel& dit = loop.t2v->dit();
  const auto& patch = dit->config().patch_size;
  const int64_t seq_len =
      loop.noise.size(1) / patch[0] * (loop.noise.size(2) / patch[1]) * (loop.noise.size(3) / patch[2]);
  const at::Tensor t = at::full({1}, static_cast<double>(timestep));
  const at::Tensor skipped = dit->forward({loop.noise}, t, {loop.context_null}, seq_len, nullptr, {0}).front();
  const at::Tensor whole_uncond = dit->forward({loop.noise}, t, {loop.context_null}, seq_len).front();
  const at::Tensor whole_cond = dit->forward({loop.noise}, t, {loop.context}, seq_len).front();
  EXPECT_TRUE(at::allclose(uncond, skipped, 1e-5, 1e-5)) << (uncond - skipped).abs().max().item<double>();
  EXPECT_TRUE(at::allclose(cond, whole_cond, 1e-5, 1e-5)) << (cond - whole_cond).abs().max().item<double>();
  EXPECT_FALSE(at::allclose(uncond, whole_uncond, 1e-4, 1e-4)) << "block 0 changes the prediction";
}

// slg-sd35 adds scale * (cond - cond with blocks skipped): scale 0 is plain
// CFG, another scale is not; outside its steps (start = end) it is CFG too.
TEST(DenoiseLoop, Sd35SkipLayerGuidanceAddsATermOnItsSteps) {
  const c10::InferenceMode inference;
  Loop loop = golden_loop(c10::kCPU, 3);
  const at::Tensor plain = loop.t2v->denoise(loop.noise, loop.context, loop.context_null, loop.settings);
  loop.settings.guidance_method = "slg-sd35:layers=0,scale=0,start=0,end=1";
  const at::Tensor zero_scale = loop.t2v->denoise(loop.noise, loop.context, loop.context_null, loop.settings);
  EXPECT_TRUE(at::allclose(plain, zero_scale, 1e-6, 1e-6)) << (plain - zero_scale).abs().max().item<double>();
  loop.settings.guidance_method = "slg-sd35:layers=0,scale=2,start=0,end=0";
  const at::Tensor inactive = loop.t2v->denoise(loop.noise, loop.context, loop.context_null, loop.settings);
  EXPECT_TRUE(at::allclose(plain, inactive, 1e-6, 1e-6));
  loop.settings.guidance_method = "slg-sd35:layers=0,scale=2,start=0,end=1";
  const at::Tensor guided = loop.t2v->denoise(loop.noise, loop.context, loop.context_null, loop.settings);
  EXPECT_FALSE(at::allclose(plain, guided, 1e-4, 1e-4));
}

// APG with eta 1, no momentum and no cap keeps the whole update: CFG on x0,
// which is CFG on the velocity, so the render equals plain CFG's; its
// defaults (eta 0, momentum -0.5) give another one.
TEST(DenoiseLoop, ApgWithTheWholeUpdateIsCfg) {
  const c10::InferenceMode inference;
  Loop loop = golden_loop(c10::kCPU, 3);
  const at::Tensor plain = loop.t2v->denoise(loop.noise, loop.context, loop.context_null, loop.settings);
  loop.settings.guidance_method = "apg:eta=1,momentum=0";
  const at::Tensor whole = loop.t2v->denoise(loop.noise, loop.context, loop.context_null, loop.settings);
  EXPECT_TRUE(at::allclose(plain, whole, 1e-4, 1e-4)) << (plain - whole).abs().max().item<double>();
  loop.settings.guidance_method = "apg";
  const at::Tensor projected = loop.t2v->denoise(loop.noise, loop.context, loop.context_null, loop.settings);
  EXPECT_FALSE(at::allclose(plain, projected, 1e-3, 1e-3));
}

// --cache fbcache: one DiT pass per step is counted; a threshold nothing
// passes gives the plain render, a loose one reuses passes.
TEST(DenoiseLoop, FirstBlockCacheCountsItsPasses) {
  const c10::InferenceMode inference;
  Loop loop = golden_loop(c10::kCPU, 4);
  const at::Tensor plain = loop.t2v->denoise(loop.noise, loop.context, loop.context_null, loop.settings);
  EXPECT_EQ(loop.t2v->last_cache_count().passes, 0);
  loop.settings.cache = "fbcache:0.000001";
  const at::Tensor tight = loop.t2v->denoise(loop.noise, loop.context, loop.context_null, loop.settings);
  EXPECT_EQ(loop.t2v->last_cache_count().passes, 4);
  EXPECT_EQ(loop.t2v->last_cache_count().reused, 0);
  EXPECT_TRUE(at::allclose(plain, tight, 1e-6, 1e-6));
  loop.settings.cache = "fbcache:1";
  const at::Tensor loose = loop.t2v->denoise(loop.noise, loop.context, loop.context_null, loop.settings);
  EXPECT_EQ(loop.t2v->last_cache_count().passes, 4);
  EXPECT_GT(loop.t2v->last_cache_count().reused, 0);
  EXPECT_FALSE(at::allclose(plain, loose, 1e-5, 1e-5));
  EXPECT_TRUE(loose.isfinite().all().item<bool>());
}

// --cache magcache and teacache read the model's tables: without them the
// render is refused; with a flat MagCache table and K 1, every other pass
// after the first reuses; a TeaCache polynomial of 0 reuses every pass
// after its retention step.
TEST(DenoiseLoop, MagCacheAndTeaCacheFollowTheModelsTables) {
  const c10::InferenceMode inference;
  Loop loop = golden_loop(c10::kCPU, 4);
  loop.settings.cache = "magcache";
  SORAGEN_EXPECT_THROW_MESSAGE(loop.t2v->denoise(loop.noise, loop.context, loop.context_null, loop.settings),
                               UsageError, "has no MagCache ratios", false);
  dit::StepCacheTables tables;
  tables.model = "the golden DiT";
  tables.magcache = dit::MagCacheTable{std::vector<double>(6, 1.0), 0.5, 1, 0.0};
  tables.teacache = dit::TeaCacheTable{{0, 0, 0, 0, 0}, 1, 0.5};
  loop.t2v->set_step_cache_tables(tables);
  loop.t2v->denoise(loop.noise, loop.context, loop.context_null, loop.settings);
  EXPECT_EQ(loop.t2v->last_cache_count().passes, 4);
  EXPECT_EQ(loop.t2v->last_cache_count().reused, 2) << "steps 1 and 3";
  loop.settings.cache = "teacache";
  const at::Tensor tea = loop.t2v->denoise(loop.noise, loop.context, loop.context_null, loop.settings);
  EXPECT_EQ(loop.t2v->last_cache_count().reused, 3);
  EXPECT_TRUE(tea.isfinite().all().item<bool>());
}

TEST(DenoiseLoop, BuildsTheRopeRotationsOncePerShape) {
  const c10::InferenceMode inference;
  Loop loop = golden_loop(c10::kCPU, 4);
  EXPECT_EQ(loop.t2v->dit()->rope_builds(), 0);
  loop.t2v->denoise(loop.noise, loop.context, loop.context_null, loop.settings);
  EXPECT_EQ(loop.t2v->dit()->rope_builds(), 1) << "4 steps of CFG batches, one shape";
  loop.t2v->denoise(loop.noise, loop.context, loop.context_null, loop.settings);
  EXPECT_EQ(loop.t2v->dit()->rope_builds(), 1) << "a second render of the same size";
  // Another latent size is another table.
  const at::Tensor smaller = loop.noise.narrow(1, 0, loop.noise.size(1) - 1).contiguous();
  ASSERT_GT(smaller.size(1), 0);
  loop.t2v->denoise(smaller, loop.context, loop.context_null, loop.settings);
  EXPECT_EQ(loop.t2v->dit()->rope_builds(), 2);
}

TEST(DenoiseLoop, NamesTheFirstNonFiniteStepEvenBetweenChecks) {
  // The guard on its own: step 2 of 10 is bad, the host looks at step 5.
  NonFiniteGuard guard(c10::kCPU, 10);
  const at::Tensor finite = at::zeros({2, 3});
  const at::Tensor bad = at::full({2, 3}, std::numeric_limits<float>::quiet_NaN());
  guard.record(finite, 0);
  guard.record(finite, 1);
  guard.record(bad, 2);  // no read yet
  guard.record(finite, 3);
  SORAGEN_EXPECT_THROW_MESSAGE(guard.record(finite, 4), ModelError, "denoising step 3/10 produced NaN or Inf", true);
}

TEST(DenoiseLoop, StopsAtTheFirstCheckAfterAnInfiniteLatent) {
  const c10::InferenceMode inference;
  Loop loop = golden_loop(c10::kCPU, 12);
  at::Tensor noise = loop.noise.clone();
  noise.view({-1})[0] = std::numeric_limits<float>::infinity();
  int steps_run = 0;
  SORAGEN_EXPECT_THROW_MESSAGE(loop.t2v->denoise(noise, loop.context, loop.context_null, loop.settings,
                                                 [&](int step, int) { steps_run = step; }),
                               ModelError, "denoising step 1/12 produced NaN or Inf", true);
  EXPECT_EQ(steps_run, NonFiniteGuard::kCheckEvery - 1) << "the host reads the flag at step kCheckEvery";
}

#if SORAGEN_WITH_CUDA
// Counts the warnings c10 raises in sync debug mode (one per synchronising
// CUDA call) while alive.
class CudaSyncCounter : public c10::WarningHandler {
 public:
  CudaSyncCounter() : previous_(c10::WarningUtils::get_warning_handler()) {
    c10::WarningUtils::set_warning_handler(this);
    c10::cuda::warning_state().set_sync_debug_mode(c10::cuda::SyncDebugMode::L_WARN);
  }
  ~CudaSyncCounter() override {
    c10::cuda::warning_state().set_sync_debug_mode(c10::cuda::SyncDebugMode::L_DISABLED);
    c10::WarningUtils::set_warning_handler(previous_);
  }
  void process(const c10::Warning& warning) override {
    const std::string message = warning.msg();
    if (message.find("synchroniz") != std::string::npos) ++count_;
  }
  int count() const { return count_; }

 private:
  c10::WarningHandler* previous_;
  int count_ = 0;
};
#endif

TEST(DenoiseLoop, SynchronisesOnlyForTheNonFiniteGuardOnCuda) {
  const std::optional<c10::Device> cuda = test::parity_cuda_device();
  if (!cuda) GTEST_SKIP() << test::no_cuda_reason();
#if SORAGEN_WITH_CUDA
  const c10::InferenceMode inference;
  for (const int steps : {3, 12}) {
    SCOPED_TRACE(std::to_string(steps) + " steps");
    Loop loop = golden_loop(*cuda, steps);
    // Warm-up: the first forward builds the RoPE rotations of this shape
    // (a copy of the table to the device).
    loop.t2v->denoise(loop.noise, loop.context, loop.context_null, loop.settings);
    int syncs = 0;
    int reads = 0;
    {
      const CudaSyncCounter sync_counter;
      const ScalarReadCounter read_counter;
      loop.t2v->denoise(loop.noise, loop.context, loop.context_null, loop.settings);
      syncs = sync_counter.count();
      reads = read_counter.count();
    }
    EXPECT_EQ(reads, guard_reads(steps));
    EXPECT_EQ(syncs, guard_reads(steps)) << "every synchronisation but the guard's is a stall in the loop";
  }
#else
  FAIL() << "a CUDA device in a build without CUDA";
#endif
}

}  // namespace
}  // namespace soragen::pipeline
