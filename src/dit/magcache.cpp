#include "dit/magcache.h"

#include <cfenv>
#include <cmath>

#include "soragen/error.h"

namespace soragen::dit {

std::vector<double> nearest_entries(const std::vector<double>& source, int target) {
  if (source.empty() || target < 1) throw InternalError("MagCache: interpolating an empty table");
  if (target == 1) return {source.back()};
  const double scale = static_cast<double>(source.size() - 1) / (target - 1);
  std::vector<double> out;
  for (int i = 0; i < target; ++i) {
    // std::nearbyint rounds half to even in the default rounding mode, as numpy.round.
    const auto index = static_cast<std::size_t>(std::nearbyint(i * scale));
    out.push_back(source.at(std::min(index, source.size() - 1)));
  }
  return out;
}

MagCache::MagCache(const MagCacheTable& table, MagCacheSettings settings, int steps, int high_noise_steps)
    : settings_(settings), split_(table.split), passes_total_(2 * steps), split_pass_(2 * high_noise_steps) {
  // The reference's table: [1, 1] for step 0, then the measured ratios.
  std::vector<double> padded{1.0, 1.0};
  padded.insert(padded.end(), table.ratios.begin(), table.ratios.end());
  if (static_cast<int>(padded.size()) == passes_total_) {
    ratios_ = padded;
    return;
  }
  std::vector<double> cond, uncond;
  for (std::size_t i = 0; i < padded.size(); i += 2) {
    cond.push_back(padded[i]);
    uncond.push_back(padded[i + 1]);
  }
  cond = nearest_entries(cond, steps);
  uncond = nearest_entries(uncond, steps);
  for (int i = 0; i < steps; ++i) {
    ratios_.push_back(cond[static_cast<std::size_t>(i)]);
    ratios_.push_back(uncond[static_cast<std::size_t>(i)]);
  }
}

bool MagCache::in_retention(int pass) const {
  const double retention = settings_.retention;
  const int total = passes_total_, split = split_pass_;
  // Python's int() of these non-negative products, as the reference computes them.
  if (split_ == "t2v") {
    return pass < static_cast<int>(split * retention) ||
           (pass >= split && pass <= (total - split) * retention + split);
  }
  if (split_ == "i2v") return pass < static_cast<int>(split + (total - split) * retention);
  return pass < static_cast<int>(total * retention);
}

bool MagCache::reusable(const at::Tensor& /*signal*/, const SumOverRanks& /*sum_over_ranks*/, bool ready) {
  bool reuse = !rows_.empty();
  std::vector<RowState*> touched;
  for (const PassRow row : rows_) {
    const int pass = 2 * step_ + static_cast<int>(row);
    if (pass >= passes_total_) throw InternalError("MagCache: pass " + std::to_string(pass) + " past the table");
    if (in_retention(pass)) {
      reuse = false;
      continue;
    }
    RowState& state = rows_state_[static_cast<std::size_t>(row)];
    state.ratio *= ratio(pass);
    state.steps += 1;
    state.error += std::abs(1.0 - state.ratio);
    touched.push_back(&state);
    if (!(state.error < settings_.threshold && state.steps <= settings_.max_skips)) reuse = false;
  }
  if (!ready) reuse = false;
  // A row that runs starts over from this pass's residual.
  if (!reuse) {
    for (RowState* state : touched) *state = RowState{};
  }
  return reuse;
}

}  // namespace soragen::dit
