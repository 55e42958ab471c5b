// DiT forwards split over ranks that are threads of this process, each with
// its own store connection and Gloo pairs as a process would have: Ulysses
// sequence parallelism over 2 and 4 ranks, and Ulysses within CFG pairs over
// 4, against the golden outputs of the official code (every DiT golden file
// and case, with the file's tolerance), as the single-process forward is.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <future>
#include <map>

#include "dit/first_block_cache.h"
#include "dit_test_util.h"
#include "distributed/ulysses.h"
#include "expect_throw.h"
#include "free_port.h"
#include "golden_util.h"
#include "loopback_rank.h"
#include "soragen/distributed.h"
#include "soragen/error.h"

namespace soragen {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::vector<fs::path> dit_golden_files() {
  std::vector<fs::path> files = test::golden_files("dit");
  const auto wan22 = test::golden_files(test::golden_dir() / "wan22", "wan22_ti2v_dit");
  files.insert(files.end(), wan22.begin(), wan22.end());
  return files;
}

// What one rank computed: per case, the outputs it returned.
using CaseOutputs = std::map<std::string, std::vector<at::Tensor>>;

// Runs `body` as each of `world` ranks (threads), each with its own
// ProcessGroup and channels for `plan`; returns each rank's result.
template <typename Body>
auto run_ranks(int world, const ParallelPlan& plan, Body body) {
  const int port = test::free_loopback_port();
  using Result = decltype(body(std::declval<distributed::RenderChannels&>()));
  std::vector<std::future<Result>> ranks;
  for (int r = 0; r < world; ++r) {
    ranks.push_back(std::async(std::launch::async, [r, world, port, plan, &body] {
      std::atomic<bool> stop{false};
      auto group = ProcessGroup::join(test::loopback_rank(r, world, port), 30s, &stop);
      distributed::RenderChannels channels = distributed::open_render_channels(*group, plan);
      Result result = body(channels);
      channels = {};
      group->leave();
      return result;
    }));
  }
  std::vector<Result> results;
  for (auto& rank : ranks) results.push_back(rank.get());
  return results;
}

// Every case of `golden` on this rank's share: under CFG, a case of two
// samples of one shape (as a conditional and unconditional pass are) gives
// each half of the pair one, and the pair gathers both.
CaseOutputs run_golden_cases(const test::GoldenFile& golden, distributed::RenderChannels& channels) {
  const dit::DitConfig config = dit::DitConfig::from_json(golden.config(), "golden");
  dit::WanModel model = test::load_memory_model(config, test::golden_weights(golden));
  model->run_options().sequence_parallel = channels.ulysses;
  const c10::InferenceMode inference;
  CaseOutputs outputs;
  for (const std::string& name : test::golden_cases(golden)) {
    const test::DitCase inputs = test::golden_case(golden, name);
    if (channels.cfg && inputs.x.size() == 2 && inputs.x[0].sizes().equals(inputs.x[1].sizes())) {
      const int half = channels.cfg->rank();
      const at::Tensor t = inputs.t.narrow(0, half, 1);
      const at::Tensor mine = model->forward({inputs.x[half]}, t, {inputs.context[half]}, inputs.seq_len).front();
      outputs[name] = channels.cfg->all_gather(mine);
    } else {
      outputs[name] = model->forward(inputs.x, inputs.t, inputs.context, inputs.seq_len);
    }
  }
  return outputs;
}

void expect_golden_on_every_rank(int world, const ParallelPlan& plan) {
  const auto files = dit_golden_files();
  ASSERT_FALSE(files.empty());
  int split_files = 0;
  for (const fs::path& path : files) {
    SCOPED_TRACE(path.string());
    const test::GoldenFile golden(path);
    // A golden set whose heads do not divide over U is refused, clearly.
    const int64_t heads = dit::DitConfig::from_json(golden.config(), "golden").num_heads;
    if (heads % plan.ulysses != 0) {
      EXPECT_THROW(dit::check_sequence_parallel(heads, plan.ulysses), UsageError);
      continue;
    }
    ++split_files;
    const auto ranks = run_ranks(world, plan, [&](distributed::RenderChannels& channels) {
      return run_golden_cases(golden, channels);
    });
    const auto cases = test::golden_cases(golden);
    ASSERT_FALSE(cases.empty());
    for (int r = 0; r < world; ++r) {
      for (const std::string& name : cases) {
        const std::vector<at::Tensor>& outputs = ranks[r].at(name);
        ASSERT_EQ(outputs.size(), golden.names_with_prefix("output." + name + ".x.").size()) << name;
        for (size_t b = 0; b < outputs.size(); ++b) {
          EXPECT_TRUE(golden.matches("output." + name + ".x." + std::to_string(b), outputs[b]))
              << "rank " << r << " of " << parallel_text(plan);
        }
      }
    }
  }
  if (split_files == 0) GTEST_SKIP() << "no golden DiT has attention heads that divide over " << plan.ulysses;
}

TEST(Ulysses, TwoRanksMatchTheGoldenForward) { expect_golden_on_every_rank(2, {2, 1}); }

TEST(Ulysses, FourRanksMatchTheGoldenForward) { expect_golden_on_every_rank(4, {4, 1}); }

TEST(Ulysses, UlyssesWithinCfgPairsOnFourRanksMatchesTheGoldenForward) {
  expect_golden_on_every_rank(4, {2, 2});
}

TEST(Ulysses, CfgPairsAloneOnTwoRanksMatchTheGoldenForward) { expect_golden_on_every_rank(2, {1, 2}); }

// The step cache's decision reads the whole residual: every rank reuses on
// the same passes as one process does.
TEST(Ulysses, StepCacheDecidesAsOneProcessDoes) {
  const auto files = test::golden_files("dit");
  ASSERT_FALSE(files.empty());
  const test::GoldenFile golden(files.front());
  const dit::DitConfig config = dit::DitConfig::from_json(golden.config(), "golden");
  if (config.num_heads % 2 != 0) GTEST_SKIP() << config.num_heads << " heads do not divide over 2 ranks";
  const test::DitCase inputs = test::golden_case(golden, test::golden_cases(golden).front());
  // A repeated timestep gives the same first-block residual (reused); a
  // far one another (every block runs).
  const std::vector<double> timesteps{900, 900, 100, 100, 900};
  const auto passes = [&](distributed::RenderChannels* channels) {
    dit::WanModel model = test::load_memory_model(config, test::golden_weights(golden));
    if (channels) model->run_options().sequence_parallel = channels->ulysses;
    const c10::InferenceMode inference;
    dit::FirstBlockCache cache(0.1);
    std::vector<int> reused_after;
    std::vector<at::Tensor> last;
    for (const double t : timesteps) {
      last = model->forward(inputs.x, at::full({static_cast<int64_t>(inputs.x.size())}, t), inputs.context,
                            inputs.seq_len, nullptr, {}, &cache);
      reused_after.push_back(cache.reused());
    }
    return std::make_pair(reused_after, last);
  };
  const auto [single_reuses, single_outputs] = passes(nullptr);
  // The repeat reuses for sure (the same residual); the far steps most
  // likely run every block, but that depends on the file's weights.
  ASSERT_EQ(single_reuses[1], 1) << "the repeated timestep reuses the cache";
  const auto ranks = run_ranks(2, {2, 1}, [&](distributed::RenderChannels& channels) { return passes(&channels); });
  for (size_t r = 0; r < ranks.size(); ++r) {
    EXPECT_EQ(ranks[r].first, single_reuses) << "rank " << r;
    for (size_t b = 0; b < single_outputs.size(); ++b) {
      EXPECT_TRUE(at::allclose(ranks[r].second[b], single_outputs[b], golden.rtol(), golden.atol()))
          << "rank " << r << ": " << (ranks[r].second[b] - single_outputs[b]).abs().max();
    }
  }
}

TEST(Ulysses, HeadsThatDoNotDivideAreAUsageError) {
  SORAGEN_EXPECT_THROW_MESSAGE(dit::check_sequence_parallel(12, 5), UsageError,
                               "splits the 12 attention heads evenly, which 5 does not", false);
  EXPECT_NO_THROW(dit::check_sequence_parallel(12, 4));
}

TEST(ParallelPlan, ParsesAndChecksTheSplit) {
  EXPECT_FALSE(parse_parallel("auto").has_value());
  const ParallelPlan both = parse_parallel("ulysses=4,cfg=2").value();
  EXPECT_EQ(both.ulysses, 4);
  EXPECT_EQ(both.cfg, 2);
  const ParallelPlan cfg_only = parse_parallel("cfg=2").value();
  EXPECT_EQ(cfg_only.ulysses, 1);
  EXPECT_EQ(parallel_text(parse_parallel("ulysses=3").value()), "ulysses=3,cfg=1");
  SORAGEN_EXPECT_THROW_MESSAGE(parse_parallel("cfg=3"), std::invalid_argument, "cfg=1 or cfg=2", false);
  SORAGEN_EXPECT_THROW_MESSAGE(parse_parallel("ulysses=0"), std::invalid_argument, "ulysses='0'", false);
  SORAGEN_EXPECT_THROW_MESSAGE(parse_parallel("ring=2"), std::invalid_argument, "'ring=2'", false);
  SORAGEN_EXPECT_THROW_MESSAGE(parse_parallel("cfg=2,cfg=2"), std::invalid_argument, "cfg is given twice", false);
  SORAGEN_EXPECT_THROW_MESSAGE(parse_parallel(""), std::invalid_argument, "expected ulysses=U", false);

  EXPECT_EQ(parallel_text(automatic_parallel_plan(2)), "ulysses=1,cfg=2");
  EXPECT_EQ(parallel_text(automatic_parallel_plan(8)), "ulysses=4,cfg=2");
  EXPECT_EQ(parallel_text(automatic_parallel_plan(3)), "ulysses=3,cfg=1");
  EXPECT_NO_THROW(check_parallel_plan({2, 2}, 4));
  SORAGEN_EXPECT_THROW_MESSAGE(check_parallel_plan({3, 2}, 4), UsageError, "needs 6 processes; this job has 4",
                               false);
}

}  // namespace
}  // namespace soragen
