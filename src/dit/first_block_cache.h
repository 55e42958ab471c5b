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

#include "dit/step_cache.h"

namespace soragen::dit {

class FirstBlockCache : public StepCache {
 public:
  static constexpr double kDefaultThreshold = 0.1;
  explicit FirstBlockCache(double threshold = kDefaultThreshold) : threshold_(threshold) {}

  bool decides_after_first_block() const override { return true; }
  // After a pass that ran every block: the residual of the blocks after the
  // first (tokens out - first_out); the first block's residual of the same
  // pass, given to decide(), becomes the reference.
  void store(const at::Tensor& rest_residual, int64_t valid_tokens) override;
  double threshold() const { return threshold_; }

 protected:
  // Under sequence parallelism each rank passes its slice and
  // `sum_over_ranks`, so that every rank decides alike from the whole residual.
  bool reusable(const at::Tensor& first_residual, const SumOverRanks& sum_over_ranks, bool ready) override;

 private:
  double threshold_;
  at::Tensor first_residual_;  // of the last pass that ran every block
  at::Tensor candidate_;       // of this pass
};

}  // namespace soragen::dit
