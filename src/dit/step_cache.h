// Step caching (--cache): a DiT pass replaces some of its blocks by the
// residual (tokens out - tokens in) that those blocks added at an earlier
// pass of the same kind, when a cheap signal says the result would be close.
//
//   fbcache   First-Block Cache (dit/first_block_cache.h): runs the first
//             block and decides from its residual; reuses the others'.
//   teacache  TeaCache (Liu et al., arXiv:2411.19108; TeaCache4Wan2.1):
//             decides before any block from the change of the timestep
//             modulation e0, rescaled by a per-model polynomial and
//             accumulated; reuses every block's residual.
//   magcache  MagCache (Ma et al., arXiv:2506.09045; MagCache4Wan2.1/2.2):
//             decides before any block from a per-model table of residual
//             magnitude ratios per step, accumulated; reuses every block's.
//
// teacache and magcache need tables fitted to a model (dit/step_cache_tables.h):
// the published ones for Wan2.1 and Wan2.2, or a bundled model's own.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace soragen::dit {

enum class StepCacheMethod { none, fbcache, teacache, magcache };

// A --cache text: none | fbcache[:THRESHOLD] | teacache[:THRESHOLD] |
// magcache[:THRESHOLD][,k=K][,retention=R]. Unset settings take the
// method's default (fbcache 0.1) or the model's table's.
struct StepCacheSpec {
  StepCacheMethod method = StepCacheMethod::none;
  std::optional<double> threshold;
  std::optional<int> max_skips;     // magcache: at most K passes in a row reuse
  std::optional<double> retention;  // magcache: the first share of the steps always runs
  bool enabled() const { return method != StepCacheMethod::none; }
};
// Throws std::invalid_argument naming what is wrong.
StepCacheSpec parse_step_cache(const std::string& text);
// The request field's rule: "" when `text` parses, else the reason.
std::string step_cache_error(const std::string& text);
const char* method_name(StepCacheMethod method);

// Which half of classifier-free guidance a row of a pass's batch is: the
// tables hold one column for each.
enum class PassRow { cond = 0, uncond = 1 };

// Adds a small tensor over the ranks of a sequence-parallel group.
using SumOverRanks = std::function<at::Tensor(const at::Tensor&)>;

class StepCache {
 public:
  virtual ~StepCache() = default;

  // The denoising loop names the step (0-based, of the whole schedule) and
  // the rows of the pass it is about to run.
  void begin_pass(int step, std::vector<PassRow> rows);

  // Whether the decision comes after the first block (fbcache) or before
  // any block (teacache, magcache).
  virtual bool decides_after_first_block() const { return false; }
  // The decision for this pass. `signal`: the time modulation e0 of the
  // whole sequence [B, T, 6, dim] before the blocks, or the first block's
  // residual after it (this rank's valid tokens). `tokens`: what the
  // cached residual would be added to. Never true without a stored residual
  // of the same shape.
  bool decide(const at::Tensor& signal, const at::Tensor& tokens, const SumOverRanks& sum_over_ranks = nullptr);
  // The tokens after the blocks the decision covers.
  at::Tensor reuse(const at::Tensor& tokens);
  // After a pass that ran those blocks: the residual they added (this rank's
  // tokens), and how many of its tokens are the samples' own, not padding.
  virtual void store(const at::Tensor& residual, int64_t valid_tokens);

  int passes() const { return passes_; }
  int reused() const { return reused_; }

 protected:
  // The method's rule, asked at every pass so that it follows its signal;
  // `ready` says whether a residual of the right shape is stored (the first
  // pass and a new batch shape have none, and must run).
  virtual bool reusable(const at::Tensor& signal, const SumOverRanks& sum_over_ranks, bool ready) = 0;

  int step_ = 0;
  std::vector<PassRow> rows_;
  at::Tensor residual_;

 private:
  int passes_ = 0;
  int reused_ = 0;
};

}  // namespace soragen::dit
