// MagCache (Ma et al., "MagCache: Fast Video Generation with Magnitude-Aware
// Cache", arXiv:2506.09045; MagCache4Wan2.1 and MagCache4Wan2.2): the ratio
// of a pass's residual norm to the previous pass's is nearly the same for
// every prompt, so it is measured once per model (the table) and the
// decision needs no signal from the pass. For each row (cond, uncond), at
// pass index n = 2 * step + row:
//   ratio *= table[n]; steps += 1; error += |1 - ratio|
//   reuse while error < threshold and steps <= K, else run and reset all three
// Passes in the retention window always run and leave the state as it is.
// A pass of two rows reuses only when both would (their tables differ by
// a few parts in a thousand); otherwise both run and restart.
#pragma once

#include <array>

#include "dit/step_cache.h"
#include "dit/step_cache_tables.h"

namespace soragen::dit {

// MagCache's nearest_interp: `target` entries of `source`, entry i being
// source[round(i * (len - 1) / (target - 1))] with numpy's round (half to
// even); one entry is the last.
std::vector<double> nearest_entries(const std::vector<double>& source, int target);

struct MagCacheSettings {
  double threshold = 0.12;
  int max_skips = 2;
  double retention = 0.2;
};

class MagCache : public StepCache {
 public:
  // `steps`: the render's steps; `high_noise_steps`: those of a two-expert
  // model's high-noise expert (the table's split decides how they count).
  MagCache(const MagCacheTable& table, MagCacheSettings settings, int steps, int high_noise_steps);

  // Whether pass n (2 * step + row) may reuse at all.
  bool in_retention(int pass) const;
  // The ratio table at pass n, after interpolation to the render's steps.
  double ratio(int pass) const { return ratios_.at(static_cast<std::size_t>(pass)); }

 protected:
  bool reusable(const at::Tensor& signal, const SumOverRanks& sum_over_ranks, bool ready) override;

 private:
  struct RowState {
    double ratio = 1.0;
    int steps = 0;
    double error = 0;
  };
  MagCacheSettings settings_;
  std::string split_;
  int passes_total_;
  int split_pass_;
  std::vector<double> ratios_;  // 2 * steps, cond and uncond interleaved, [1, 1] first
  std::array<RowState, 2> rows_state_;
};

}  // namespace soragen::dit
