// First-Block Cache: the --cache text, the reuse rule, and a DiT pass that
// reuses the residual of the blocks after the first.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>
#include <stdexcept>
#include <string>

#include "dit/first_block_cache.h"
#include "dit_unit_util.h"

namespace soragen::dit::unit {
namespace {

TEST(FirstBlockCache, ParsesTheCacheText) {
  EXPECT_FALSE(parse_step_cache("none").enabled);
  EXPECT_TRUE(parse_step_cache("fbcache").enabled);
  EXPECT_EQ(parse_step_cache("fbcache").threshold, 0.1);
  EXPECT_EQ(parse_step_cache("fbcache:0.25").threshold, 0.25);
  EXPECT_NE(step_cache_error("teacache").find("'teacache': expected none or fbcache[:THRESHOLD]"), std::string::npos);
  for (const char* bad : {"fbcache:", "fbcache:0", "fbcache:1.5", "fbcache:x", "fbcache:-0.1"}) {
    EXPECT_NE(step_cache_error(bad).find("expected a number above 0 and at most 1"), std::string::npos) << bad;
  }
  EXPECT_THROW(parse_step_cache("fbcache:nan"), std::invalid_argument);
}

// Reuse when mean|r - r_full| / mean|r_full| < threshold, against the last
// stored (full) pass; never on the first pass or another shape.
TEST(FirstBlockCache, ReusesWhileTheFirstResidualChangesLittle) {
  FirstBlockCache cache(0.1);
  const at::Tensor r = at::ones({2, 3});
  EXPECT_FALSE(cache.reusable(r)) << "nothing stored yet";
  cache.store(r, at::full({2, 3}, 5.0));
  EXPECT_TRUE(cache.reusable(r * 1.09)) << "change 0.09";
  EXPECT_FALSE(cache.reusable(r * 1.11)) << "change 0.11";
  EXPECT_FALSE(cache.reusable(at::ones({3, 3}))) << "another batch shape";
  EXPECT_TRUE(at::equal(cache.reuse(at::full({2, 3}, 2.0)), at::full({2, 3}, 7.0)));
  EXPECT_EQ(cache.passes(), 4);
  EXPECT_EQ(cache.reused(), 1);
}

struct Tiny {
  DitConfig config;
  WanModel model{nullptr};
  at::Tensor latent, context;
  int64_t seq_len = 8;
};

Tiny tiny_model() {
  nlohmann::json json = tiny_json();
  json["num_layers"] = 3;
  Tiny tiny{DitConfig::from_json(json, "three blocks")};
  tiny.model = WanModel(tiny.config);
  at::manual_seed(11);
  for (auto& item : tiny.model->named_parameters()) item.value().copy_(at::randn(item.value().sizes()) * 0.2);
  tiny.latent = at::randn({4, 2, 4, 4});
  tiny.context = at::randn({5, tiny.config.text_dim});
  return tiny;
}

TEST(FirstBlockCache, AReusedPassRunsTheFirstBlockOnly) {
  const c10::InferenceMode inference;
  const Tiny tiny = tiny_model();
  const at::Tensor t = at::full({1}, 700.0);
  FirstBlockCache cache(1.0);
  std::set<std::string> blocks_run;
  const DebugHook hook = [&](const std::string& name, const at::Tensor&) {
    // "block<N>.out", each block's output (not its parts').
    if (name.rfind("block", 0) == 0 && name.find('.') == name.size() - 4 && name.find(".out") != std::string::npos) {
      blocks_run.insert(name);
    }
  };
  const at::Tensor full =
      tiny.model->forward({tiny.latent}, t, {tiny.context}, tiny.seq_len, hook, {}, &cache).front();
  EXPECT_EQ(blocks_run, (std::set<std::string>{"block0.out", "block1.out", "block2.out"}));
  const at::Tensor plain = tiny.model->forward({tiny.latent}, t, {tiny.context}, tiny.seq_len).front();
  EXPECT_TRUE(at::allclose(full, plain, 1e-6, 1e-6)) << "a pass that stores is the plain forward";
  blocks_run.clear();
  // The same input again: the first residual is unchanged, the rest comes
  // from the cache, and the output is the full one.
  const at::Tensor again =
      tiny.model->forward({tiny.latent}, t, {tiny.context}, tiny.seq_len, hook, {}, &cache).front();
  EXPECT_EQ(blocks_run, std::set<std::string>{"block0.out"});
  EXPECT_EQ(cache.reused(), 1);
  EXPECT_TRUE(at::allclose(again, full, 1e-5, 1e-5)) << (again - full).abs().max();
  // Another timestep within the threshold reuses too: an estimate, not the forward.
  const at::Tensor t2 = at::full({1}, 650.0);
  const at::Tensor estimate =
      tiny.model->forward({tiny.latent}, t2, {tiny.context}, tiny.seq_len, nullptr, {}, &cache).front();
  const at::Tensor exact = tiny.model->forward({tiny.latent}, t2, {tiny.context}, tiny.seq_len).front();
  EXPECT_EQ(cache.reused(), 2);
  EXPECT_FALSE(at::allclose(estimate, exact, 1e-5, 1e-5));
  EXPECT_TRUE(estimate.isfinite().all().item<bool>());
}

TEST(FirstBlockCache, ATightThresholdRunsEveryBlock) {
  const c10::InferenceMode inference;
  const Tiny tiny = tiny_model();
  FirstBlockCache cache(1e-9);
  for (const double timestep : {700.0, 650.0, 600.0}) {
    const at::Tensor t = at::full({1}, timestep);
    const at::Tensor cached =
        tiny.model->forward({tiny.latent}, t, {tiny.context}, tiny.seq_len, nullptr, {}, &cache).front();
    const at::Tensor plain = tiny.model->forward({tiny.latent}, t, {tiny.context}, tiny.seq_len).front();
    EXPECT_TRUE(at::allclose(cached, plain, 1e-6, 1e-6)) << timestep;
  }
  EXPECT_EQ(cache.passes(), 3);
  EXPECT_EQ(cache.reused(), 0);
}

}  // namespace
}  // namespace soragen::dit::unit
