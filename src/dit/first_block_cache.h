// First-Block Cache (ParaAttention's "fbcache", after TeaCache; Wan users run
// it through ComfyUI's WaveSpeed nodes): when the first DiT block's residual
// (output - input) changed little since the last step that ran every block,
// the other blocks' residual of that step is added to this step's first-block
// output instead of running them.
//   change = mean|r - r_full| / mean|r_full|; reuse while change < threshold
// r_full is the first-block residual of the last step that ran every block,
// so reuses never chain on one another's estimates. One cache per kind of
// pass (a change of batch shape runs every block and starts over); deciding
// reads one scalar from the device per pass.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <string>

namespace soragen::dit {

// --cache: "none", or "fbcache[:THRESHOLD]" with 0 < THRESHOLD <= 1.
struct StepCacheSpec {
  bool enabled = false;
  double threshold = 0.1;
};
// Throws std::invalid_argument naming what is wrong.
StepCacheSpec parse_step_cache(const std::string& text);
// The request field's rule: "" when `text` parses, else the reason.
std::string step_cache_error(const std::string& text);

class FirstBlockCache {
 public:
  explicit FirstBlockCache(double threshold) : threshold_(threshold) {}

  // Whether the blocks after the first may be skipped, given this pass's
  // first-block residual. Under sequence parallelism each rank passes its
  // slice and `sum_over_ranks`, which adds a small tensor over the ranks, so
  // that every rank takes the same decision from the whole residual.
  bool reusable(const at::Tensor& first_residual,
                const std::function<at::Tensor(const at::Tensor&)>& sum_over_ranks = nullptr);
  // The tokens after every block, from the first block's output.
  at::Tensor reuse(const at::Tensor& first_out);
  // After a pass that ran every block: its first-block residual and the
  // residual of the blocks after it (tokens out - first_out).
  void store(const at::Tensor& first_residual, const at::Tensor& rest_residual);

  int reused() const { return reused_; }
  int passes() const { return passes_; }
  double threshold() const { return threshold_; }

 private:
  double threshold_;
  at::Tensor first_residual_;
  at::Tensor rest_residual_;
  int reused_ = 0;
  int passes_ = 0;
};

}  // namespace soragen::dit
