// CFG parallelism in the denoising loop: two generators, each running one
// half of every guided pass and swapping halves (here in memory, between two
// threads, as distributed::all_gather does between two processes), end on
// the latent that one generator reaches with its batch of 2.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <array>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>

#include "golden_loop.h"
#include "pipeline/video_generator.h"

namespace soragen::pipeline {
namespace {

// The halves of each round, handed between the two threads.
class HalfExchange {
 public:
  std::vector<at::Tensor> gather(int half, const at::Tensor& mine) {
    std::unique_lock<std::mutex> lock(mutex_);
    const int round = rounds_[half]++;
    std::array<at::Tensor, 2>& slot = slots_[round];
    slot[half] = mine.clone();
    changed_.notify_all();
    changed_.wait(lock, [&] { return slot[1 - half].defined(); });
    return {slot[0], slot[1]};
  }
  int rounds(int half) const { return rounds_[half]; }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::array<int, 2> rounds_{0, 0};
  std::map<int, std::array<at::Tensor, 2>> slots_;
};

// The golden loop with `guidance_method`.
test::Loop golden_render(int steps, const std::string& guidance_method) {
  test::Loop render = test::golden_loop(c10::kCPU, steps);
  render.settings.guidance_method = guidance_method;
  return render;
}

at::Tensor denoise(test::Loop& render) {
  return render.t2v->denoise(render.noise, render.context, render.context_null, render.settings);
}

void expect_split_equals_batch(const std::string& guidance_method) {
  constexpr int kSteps = 3;
  at::Tensor whole;
  {
    const c10::InferenceMode inference;
    test::Loop one = golden_render(kSteps, guidance_method);
    whole = denoise(one);
  }
  HalfExchange exchange;
  std::array<std::future<at::Tensor>, 2> halves;
  for (int half = 0; half < 2; ++half) {
    halves[half] = std::async(std::launch::async, [&, half] {
      const c10::InferenceMode inference;  // per thread
      test::Loop render = golden_render(kSteps, guidance_method);
      render.t2v->split_guidance({half, [&, half](const at::Tensor& mine) { return exchange.gather(half, mine); }});
      return denoise(render);
    });
  }
  const at::Tensor from_cond = halves[0].get();
  const at::Tensor from_uncond = halves[1].get();
  EXPECT_EQ(exchange.rounds(0), kSteps) << "one exchange per guided step";
  EXPECT_EQ(exchange.rounds(1), kSteps);
  // Both processes guide and step on the same pair: the same latent, bit for bit.
  EXPECT_TRUE(at::equal(from_cond, from_uncond)) << guidance_method;
  // Against the batch of 2: batch-1 GEMMs round differently, within fp32's
  // accumulated error over the steps.
  EXPECT_TRUE(at::allclose(from_cond, whole, 1e-5, 1e-5))
      << guidance_method << ": max difference " << (from_cond - whole).abs().max().item<double>();
}

TEST(CfgParallel, HalvesOnTwoGeneratorsEqualTheBatchOfTwo) { expect_split_equals_batch("cfg"); }

// slg skips blocks in the unconditional pass only: the half that runs it skips them.
TEST(CfgParallel, SkipLayerGuidanceSkipsBlocksOnTheUnconditionalHalf) {
  expect_split_equals_batch("slg:layers=0,start=0,end=1");
}

// APG's momentum is state of each generator; both keep the same.
TEST(CfgParallel, ApgKeepsTheSameMomentumOnBothHalves) { expect_split_equals_batch("apg"); }

}  // namespace
}  // namespace soragen::pipeline
