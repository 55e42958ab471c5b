// Step caching: the --cache text; First-Block Cache, TeaCache and MagCache
// decisions on hand-computed cases; DiT passes that reuse residuals; the
// published tables and the calibration that fits a model's own.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>
#include <stdexcept>
#include <string>

#include "dit/first_block_cache.h"
#include "dit/magcache.h"
#include "dit/step_cache_calibration.h"
#include "dit/step_cache_factory.h"
#include "dit/teacache.h"
#include "dit_unit_util.h"
#include "soragen/error.h"

namespace soragen::dit::unit {
namespace {

TEST(StepCacheText, ParsesEveryMethod) {
  EXPECT_FALSE(parse_step_cache("none").enabled());
  const StepCacheSpec fb = parse_step_cache("fbcache");
  EXPECT_EQ(fb.method, StepCacheMethod::fbcache);
  EXPECT_FALSE(fb.threshold.has_value()) << "the default comes from the method";
  EXPECT_EQ(parse_step_cache("fbcache:0.25").threshold, 0.25);
  EXPECT_EQ(parse_step_cache("teacache").method, StepCacheMethod::teacache);
  EXPECT_EQ(parse_step_cache("teacache:0.2").threshold, 0.2);
  const StepCacheSpec mag = parse_step_cache("magcache:0.1,k=3,retention=0.3");
  EXPECT_EQ(mag.method, StepCacheMethod::magcache);
  EXPECT_EQ(mag.threshold, 0.1);
  EXPECT_EQ(mag.max_skips, 3);
  EXPECT_EQ(mag.retention, 0.3);
  const StepCacheSpec k_only = parse_step_cache("magcache:k=4");
  EXPECT_FALSE(k_only.threshold.has_value());
  EXPECT_EQ(k_only.max_skips, 4);
  EXPECT_EQ(parse_step_cache("magcache:retention=0").retention, 0.0);
  // Accumulating methods may go above 1; fbcache's is a relative change.
  EXPECT_EQ(parse_step_cache("teacache:1.5").threshold, 1.5);
  const std::vector<std::pair<std::string, std::string>> bad{
      {"foo", "'foo': expected none, fbcache[:THRESHOLD], teacache[:THRESHOLD] or magcache"},
      {"fbcache:1.5", "expected a number above 0 and at most 1"},
      {"fbcache:", "threshold='' is not a number"},
      {"teacache:0", "expected a number above 0"},
      {"teacache:-1", "expected a number above 0"},
      {"teacache:x", "threshold='x' is not a number"},
      {"fbcache:nan", "is not a number"},
      {"teacache:k=2", "'k': teacache takes a threshold only"},
      {"magcache:k=0", "k '0': expected a whole number of passes from 1"},
      {"magcache:k=1.5", "k '1.5': expected a whole number"},
      {"magcache:retention=1", "retention '1': expected a share of the steps in [0, 1)"},
      {"magcache:speed=2", "'speed': magcache takes threshold, k and retention"},
      {"magcache:0.1,0.2", "'0.2': settings after the threshold are key=value"},
  };
  for (const auto& [text, message] : bad) {
    EXPECT_NE(step_cache_error(text).find(message), std::string::npos) << text << ": " << step_cache_error(text);
  }
  EXPECT_EQ(step_cache_error("magcache:0.05,k=2"), "");
}

// Reuse when mean|r - r_full| / mean|r_full| < threshold, against the last
// stored (full) pass; never on the first pass or another shape.
TEST(FirstBlockCache, ReusesWhileTheFirstResidualChangesLittle) {
  FirstBlockCache cache(0.1);
  const at::Tensor r = at::ones({2, 3});
  const at::Tensor tokens = at::zeros({2, 3});
  EXPECT_FALSE(cache.decide(r, tokens)) << "nothing stored yet";
  cache.store(at::full({2, 3}, 5.0), 3);
  EXPECT_TRUE(cache.decide(r * 1.09, tokens)) << "change 0.09";
  EXPECT_FALSE(cache.decide(r * 1.11, tokens)) << "change 0.11";
  EXPECT_FALSE(cache.decide(at::ones({3, 3}), at::zeros({3, 3}))) << "another batch shape";
  EXPECT_TRUE(at::equal(cache.reuse(at::full({2, 3}, 2.0)), at::full({2, 3}, 7.0)));
  EXPECT_EQ(cache.passes(), 4);
  EXPECT_EQ(cache.reused(), 1);
}

TEST(TeaCache, EvaluatesItsPolynomialHighestPowerFirst) {
  EXPECT_DOUBLE_EQ(evaluate_polynomial({1, 2, 3}, 2), 11.0);  // numpy.poly1d([1, 2, 3])(2)
  EXPECT_DOUBLE_EQ(evaluate_polynomial({5}, 7), 5.0);
  EXPECT_NEAR(relative_l1(at::full({4}, 1.1), at::ones({4})), 0.1, 1e-6);
}

// poly(x) = x, threshold 0.25, one retention step; e0 grows 10% a pass, so
// each pass adds 0.1: run (retention), reuse 0.1, reuse 0.2, run at 0.3
// (back to 0), reuse 0.1.
TEST(TeaCache, AccumulatesTheRescaledChangeOfE0) {
  TeaCache cache(TeaCacheTable{{0, 0, 0, 1, 0}, 1, 0.25}, 0.25);
  const at::Tensor tokens = at::zeros({1, 4, 3});
  std::vector<bool> decisions;
  double e = 1.0;
  for (int step = 0; step < 5; ++step, e *= 1.1) {
    cache.begin_pass(step, {PassRow::cond, PassRow::uncond});
    const bool reuse = cache.decide(at::full({2, 1, 6, 3}, e, at::kDouble), tokens);
    decisions.push_back(reuse);
    if (!reuse) cache.store(at::ones({1, 4, 3}), 4);
  }
  EXPECT_EQ(decisions, (std::vector<bool>{false, true, true, false, true}));
  EXPECT_NEAR(cache.accumulated(), 0.1, 1e-6);
  EXPECT_EQ(cache.passes(), 5);
}

TEST(TeaCache, RetentionStepsAlwaysRun) {
  TeaCache cache(TeaCacheTable{{0, 0, 0, 0, 0}, 3, 0.25}, 0.25);  // poly 0: would reuse always
  const at::Tensor tokens = at::zeros({1, 4, 3});
  std::vector<bool> decisions;
  for (int step = 0; step < 5; ++step) {
    cache.begin_pass(step, {PassRow::cond});
    const bool reuse = cache.decide(at::full({1, 1, 6, 3}, 1.0 + step), tokens);
    decisions.push_back(reuse);
    if (!reuse) cache.store(at::ones({1, 4, 3}), 4);
  }
  EXPECT_EQ(decisions, (std::vector<bool>{false, false, false, true, true}));
}

TEST(MagCache, InterpolatesItsTableAsNearestEntries) {
  const std::vector<double> five{0, 1, 2, 3, 4};
  EXPECT_EQ(nearest_entries(five, 3), (std::vector<double>{0, 2, 4}));
  EXPECT_EQ(nearest_entries(five, 4), (std::vector<double>{0, 1, 3, 4}));
  EXPECT_EQ(nearest_entries(five, 1), (std::vector<double>{4}));
  // Halves round to even, as numpy.round: 0.5 -> 0, 1.5 -> 2.
  EXPECT_EQ(nearest_entries({0, 1, 2}, 5), (std::vector<double>{0, 0, 1, 2, 2}));
}

std::vector<bool> magcache_decisions(MagCache& cache, int steps) {
  const at::Tensor tokens = at::zeros({2, 4, 3});
  std::vector<bool> decisions;
  for (int step = 0; step < steps; ++step) {
    cache.begin_pass(step, {PassRow::cond, PassRow::uncond});
    const bool reuse = cache.decide(at::Tensor(), tokens);
    decisions.push_back(reuse);
    if (!reuse) cache.store(at::ones({2, 4, 3}), 4);
  }
  return decisions;
}

// 5 steps, retention 0.2 (passes 0 and 1 run), threshold 0.2, K 2:
// step 1 ratio 0.9 -> error 0.1, reuse; step 2 x0.95 -> 0.855, error 0.245,
// run and reset; step 3 x1.0 -> error 0, reuse; step 4
// x0.7 -> error 0.3: run.
TEST(MagCache, AccumulatesTheRatiosError) {
  MagCacheTable table{{0.9, 0.9, 0.95, 0.95, 1.0, 1.0, 0.7, 0.7}};
  MagCache cache(table, {0.2, 2, 0.2}, 5, 0);
  EXPECT_EQ(magcache_decisions(cache, 5), (std::vector<bool>{false, true, false, true, false}));
}

TEST(MagCache, ReusesAtMostKPassesInARow) {
  MagCacheTable table{std::vector<double>(8, 1.0)};
  MagCache cache(table, {0.2, 2, 0.2}, 5, 0);
  EXPECT_EQ(magcache_decisions(cache, 5), (std::vector<bool>{false, true, true, false, true}));
}

TEST(MagCache, APairReusesOnlyWhenBothRowsWould) {
  // The uncond column's ratio 0.5 breaks its error at once.
  MagCacheTable table{{0.99, 0.5, 0.99, 0.5, 0.99, 0.5, 0.99, 0.5}};
  MagCache pair(table, {0.2, 2, 0.2}, 5, 0);
  EXPECT_EQ(magcache_decisions(pair, 5), (std::vector<bool>(5, false)));
  MagCache cond_only(table, {0.2, 2, 0.2}, 5, 0);
  const at::Tensor tokens = at::zeros({1, 4, 3});
  std::vector<bool> decisions;
  for (int step = 0; step < 5; ++step) {
    cond_only.begin_pass(step, {PassRow::cond});
    decisions.push_back(cond_only.decide(at::Tensor(), tokens));
    if (!decisions.back()) cond_only.store(at::ones({1, 4, 3}), 4);
  }
  EXPECT_EQ(decisions, (std::vector<bool>{false, true, true, false, true}));
}

// The retention windows of the reference, in passes (2 per step).
TEST(MagCache, KeepsEachSplitsRetentionWindow) {
  MagCacheTable one{std::vector<double>(18, 1.0)};
  MagCache plain(one, {0.1, 2, 0.25}, 10, 0);
  for (int pass = 0; pass < 20; ++pass) EXPECT_EQ(plain.in_retention(pass), pass < 5) << pass;
  // t2v: the first int(8 * 0.25) = 2 passes, and passes 8 to 12 * 0.25 + 8 = 11.
  one.split = "t2v";
  MagCache t2v(one, {0.1, 2, 0.25}, 10, 4);
  for (int pass = 0; pass < 20; ++pass) {
    EXPECT_EQ(t2v.in_retention(pass), pass < 2 || (pass >= 8 && pass <= 11)) << pass;
  }
  // i2v: the high-noise expert's passes and int(8 + 12 * 0.25) = 11.
  one.split = "i2v";
  MagCache i2v(one, {0.1, 2, 0.25}, 10, 4);
  for (int pass = 0; pass < 20; ++pass) EXPECT_EQ(i2v.in_retention(pass), pass < 11) << pass;
}

TEST(MagCache, StretchesThePublishedTableToTheRendersSteps) {
  const StepCacheTables tables = published_step_cache_tables(DitConfig::from_file(configs_dir() / "wan2.1-t2v-1.3b.json"), false);
  ASSERT_TRUE(tables.magcache.has_value());
  ASSERT_EQ(tables.magcache->ratios.size(), 98u) << "49 steps after the first, at 50 steps";
  MagCache at50(*tables.magcache, {0.12, 4, 0.2}, 50, 0);
  EXPECT_EQ(at50.ratio(0), 1.0);
  EXPECT_EQ(at50.ratio(2), tables.magcache->ratios[0]);
  EXPECT_EQ(at50.ratio(99), tables.magcache->ratios[97]);
  // 20 steps: cond entry i of the 50 is round(i * 49 / 19).
  MagCache at20(*tables.magcache, {0.12, 4, 0.2}, 20, 0);
  EXPECT_EQ(at20.ratio(0), 1.0);
  EXPECT_EQ(at20.ratio(2 * 19), tables.magcache->ratios[96]);
  EXPECT_EQ(at20.ratio(2 * 10 + 1), tables.magcache->ratios[2 * (26 - 1) + 1]);  // round(10 * 49 / 19) = 26
}

TEST(StepCacheTables, RecognisesThePublishedModels) {
  const auto config = [](const char* name) { return DitConfig::from_file(configs_dir() / name); };
  const StepCacheTables small = published_step_cache_tables(config("wan2.1-t2v-1.3b.json"), false);
  EXPECT_EQ(small.model, "Wan2.1 T2V-1.3B");
  EXPECT_TRUE(small.teacache && small.magcache);
  EXPECT_EQ(small.teacache->coefficients.size(), 5u);
  const StepCacheTables big = published_step_cache_tables(config("wan2.1-t2v-14b.json"), false);
  EXPECT_EQ(big.model, "Wan2.1 T2V-14B");
  EXPECT_TRUE(big.teacache && big.magcache);
  const StepCacheTables a14b = published_step_cache_tables(config("wan2.2-t2v-a14b.json"), true);
  EXPECT_EQ(a14b.model, "Wan2.2 T2V-A14B");
  EXPECT_FALSE(a14b.teacache.has_value());
  ASSERT_TRUE(a14b.magcache.has_value());
  EXPECT_EQ(a14b.magcache->ratios.size(), 78u);
  EXPECT_EQ(a14b.magcache->split, "t2v");
  const StepCacheTables i2v = published_step_cache_tables(config("wan2.2-i2v-a14b.json"), true);
  EXPECT_EQ(i2v.model, "Wan2.2 I2V-A14B");
  EXPECT_EQ(i2v.magcache->split, "i2v");
  const StepCacheTables ti2v = published_step_cache_tables(config("wan2.2-ti2v-5b.json"), false);
  EXPECT_EQ(ti2v.model, "Wan2.2 TI2V-5B");
  EXPECT_TRUE(ti2v.magcache && ti2v.magcache_image);
  EXPECT_NE(ti2v.magcache->ratios, ti2v.magcache_image->ratios);
  const StepCacheTables none = published_step_cache_tables(tiny_config(), false);
  EXPECT_FALSE(none.teacache || none.magcache);
}

TEST(StepCacheTables, ReadsAndWritesModelJsonsObject) {
  const nlohmann::json json = {{"teacache", {{"coefficients", {1, 2, 3}}, {"ret_steps", 2}, {"threshold", 0.3}}},
                               {"magcache", {{"ratios", {0.9, 0.91}}, {"threshold", 0.1}, {"k", 3}}}};
  const StepCacheTables tables = step_cache_tables_from_json(json, "the bundled model 'x'", "model file 'm'");
  EXPECT_EQ(tables.teacache->coefficients, (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(tables.teacache->ret_steps, 2);
  EXPECT_EQ(tables.magcache->max_skips, 3);
  EXPECT_EQ(tables.magcache->retention, 0.2) << "the default";
  EXPECT_EQ(step_cache_tables_from_json(to_json(tables), "x", "y").magcache->ratios, tables.magcache->ratios);
  EXPECT_THROW_WITH(step_cache_tables_from_json({{"magcache", {{"ratios", {0.9}}}}}, "x", "model file 'm'"),
                    ModelError, "model file 'm': step_cache: \"ratios\" must hold cond and uncond pairs");
  EXPECT_THROW_WITH(step_cache_tables_from_json({{"teacache", {{"coefficients", "x"}}}}, "x", "model file 'm'"),
                    ModelError, "\"coefficients\" must be a list of numbers");
  EXPECT_THROW_WITH(step_cache_tables_from_json({{"magcache", {{"ratios", {1, 1}}, {"k", 0}}}}, "x", "model file 'm'"),
                    ModelError, "\"k\" must be 1 or more");
}

TEST(StepCacheFactory, RefusesAMethodTheModelHasNoTableFor) {
  StepCacheTables tables;
  tables.model = "Wan2.2 TI2V-5B";
  tables.magcache = MagCacheTable{{1, 1}};
  EXPECT_THROW_WITH(check_step_cache_for_model("teacache:0.1", tables), UsageError,
                    "--cache teacache:0.1: Wan2.2 TI2V-5B has no TeaCache coefficients");
  EXPECT_NO_THROW(check_step_cache_for_model("magcache", tables));
  tables.magcache.reset();
  EXPECT_THROW_WITH(check_step_cache_for_model("magcache", tables), UsageError,
                    "--cache magcache: Wan2.2 TI2V-5B has no MagCache ratios");
  EXPECT_NO_THROW(check_step_cache_for_model("fbcache", tables));
  EXPECT_EQ(make_step_cache(parse_step_cache("none"), tables, {}), nullptr);
  const auto fb = make_step_cache(parse_step_cache("fbcache"), tables, {});
  ASSERT_TRUE(fb);
  EXPECT_EQ(static_cast<FirstBlockCache&>(*fb).threshold(), 0.1);
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

// The outputs of each whole block ("block<N>.out") a pass ran.
struct BlocksRun {
  std::set<std::string> names;
  DebugHook hook() {
    return [this](const std::string& name, const at::Tensor&) {
      if (name.rfind("block", 0) == 0 && name.find('.') == name.size() - 4 && name.find(".out") != std::string::npos) {
        names.insert(name);
      }
    };
  }
};

TEST(FirstBlockCache, AReusedPassRunsTheFirstBlockOnly) {
  const c10::InferenceMode inference;
  const Tiny tiny = tiny_model();
  const at::Tensor t = at::full({1}, 700.0);
  FirstBlockCache cache(1.0);
  BlocksRun run;
  const at::Tensor full =
      tiny.model->forward({tiny.latent}, t, {tiny.context}, tiny.seq_len, run.hook(), {}, &cache).front();
  EXPECT_EQ(run.names, (std::set<std::string>{"block0.out", "block1.out", "block2.out"}));
  const at::Tensor plain = tiny.model->forward({tiny.latent}, t, {tiny.context}, tiny.seq_len).front();
  EXPECT_TRUE(at::allclose(full, plain, 1e-6, 1e-6)) << "a pass that stores is the plain forward";
  run.names.clear();
  // The same input again: the first residual is unchanged, the rest comes
  // from the cache, and the output is the full one.
  const at::Tensor again =
      tiny.model->forward({tiny.latent}, t, {tiny.context}, tiny.seq_len, run.hook(), {}, &cache).front();
  EXPECT_EQ(run.names, std::set<std::string>{"block0.out"});
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

// A pass MagCache reuses runs no block at all: the tokens before the blocks
// plus the stored residual of every block, which on the same input is the
// full output.
TEST(MagCache, AReusedPassRunsNoBlock) {
  const c10::InferenceMode inference;
  const Tiny tiny = tiny_model();
  MagCache cache(MagCacheTable{{1, 1, 1, 1}}, {0.5, 2, 0}, 3, 0);
  BlocksRun run;
  const at::Tensor t = at::full({1}, 700.0);
  cache.begin_pass(0, {PassRow::cond});
  const at::Tensor full = tiny.model->forward({tiny.latent}, t, {tiny.context}, tiny.seq_len, run.hook(), {}, &cache).front();
  EXPECT_EQ(run.names.size(), 3u) << "no residual yet: every block runs";
  EXPECT_TRUE(at::allclose(full, tiny.model->forward({tiny.latent}, t, {tiny.context}, tiny.seq_len).front(), 1e-6, 1e-6));
  run.names.clear();
  cache.begin_pass(1, {PassRow::cond});
  const at::Tensor again = tiny.model->forward({tiny.latent}, t, {tiny.context}, tiny.seq_len, run.hook(), {}, &cache).front();
  EXPECT_TRUE(run.names.empty());
  EXPECT_EQ(cache.reused(), 1);
  EXPECT_TRUE(at::allclose(again, full, 1e-5, 1e-5)) << (again - full).abs().max();
}

TEST(TeaCache, DecidesFromTheTimeModulationOfThePass) {
  const c10::InferenceMode inference;
  const Tiny tiny = tiny_model();
  // poly(x) = x: 700 -> 699 changes e0 a little (reuse at threshold 0.5), 700 -> 100 a lot.
  TeaCache cache(TeaCacheTable{{0, 0, 0, 1, 0}, 1, 0.5}, 0.5);
  std::vector<int> reused;
  int step = 0;
  for (const double timestep : {700.0, 699.0, 100.0}) {
    cache.begin_pass(step++, {PassRow::cond});
    tiny.model->forward({tiny.latent}, at::full({1}, timestep), {tiny.context}, tiny.seq_len, nullptr, {}, &cache);
    reused.push_back(cache.reused());
  }
  EXPECT_EQ(reused, (std::vector<int>{0, 1, 1}));
}

TEST(StepCacheCalibration, FitsAPolynomialAsNumpyDoes) {
  // y = 2x^3 - x + 0.5 on points spread over [0.001, 0.2]: a degree-4 fit
  // recovers it (leading coefficient 0).
  std::vector<double> x, y;
  for (int i = 1; i <= 40; ++i) {
    const double v = 0.005 * i;
    x.push_back(v);
    y.push_back(2 * v * v * v - v + 0.5);
  }
  const std::vector<double> c = fit_polynomial(x, y, 4);
  ASSERT_EQ(c.size(), 5u);
  const std::vector<double> expected{0, 2, 0, -1, 0.5};
  for (std::size_t k = 0; k < 5; ++k) EXPECT_NEAR(c[k], expected[k], 1e-6 * (k == 0 ? 1000 : 1)) << k;
  EXPECT_THROW(fit_polynomial({1, 2}, {1, 2}, 4), UsageError);
}

// Renders of 3 steps through a recorder: never reuse, and give MagCache's
// ratio of the residual norms, step over step, per row.
TEST(StepCacheCalibration, RecordsTheResidualRatiosOfEveryStep) {
  const c10::InferenceMode inference;
  const Tiny tiny = tiny_model();
  StepCacheCalibration calibration;
  std::vector<at::Tensor> residual_norms;
  for (int render = 0; render < 2; ++render) {
    const auto recorder = calibration.recorder(3);
    int step = 0;
    for (const double timestep : {900.0, 500.0, 100.0}) {
      recorder->begin_pass(step++, {PassRow::cond, PassRow::uncond});
      tiny.model->forward({tiny.latent, tiny.latent}, at::full({2}, timestep), {tiny.context, tiny.context * 0.5},
                          tiny.seq_len, nullptr, {}, recorder.get());
    }
    EXPECT_EQ(recorder->reused(), 0);
  }
  // The same ratios, independently: the blocks' residual is the last
  // block's output less the patch embedding (this latent fills seq_len).
  std::vector<at::Tensor> residuals;  // [2, L, dim] per step
  for (const double timestep : {900.0, 500.0, 100.0}) {
    std::vector<at::Tensor> embedded(2);
    at::Tensor out;
    const DebugHook hook = [&](const std::string& name, const at::Tensor& value) {
      if (name == "patch_embed.0") embedded[0] = value.clone();
      if (name == "patch_embed.1") embedded[1] = value.clone();
      if (name == "block2.out") out = value.clone();
    };
    tiny.model->forward({tiny.latent, tiny.latent}, at::full({2}, timestep), {tiny.context, tiny.context * 0.5},
                        tiny.seq_len, hook);
    residuals.push_back(out - at::stack(embedded));
  }
  const StepCacheTables tables = calibration.tables("tiny");
  ASSERT_TRUE(tables.magcache.has_value());
  ASSERT_EQ(tables.magcache->ratios.size(), 4u) << "steps 1 and 2, cond and uncond";
  for (int step = 1; step <= 2; ++step) {
    for (int row = 0; row < 2; ++row) {
      const at::Tensor now = residuals[step][row].to(at::kDouble), before = residuals[step - 1][row].to(at::kDouble);
      const double expected = (now.norm(2, {-1}) / before.norm(2, {-1})).mean().item<double>();
      EXPECT_NEAR(tables.magcache->ratios[static_cast<std::size_t>(2 * (step - 1) + row)], expected, 1e-4)
          << "step " << step << " row " << row;
    }
  }
  EXPECT_NE(tables.magcache->ratios[0], tables.magcache->ratios[1]) << "the rows' contexts differ";
  EXPECT_EQ(calibration.renders(), 2);
  EXPECT_THROW(StepCacheCalibration().tables("x"), UsageError);
}

}  // namespace
}  // namespace soragen::dit::unit
