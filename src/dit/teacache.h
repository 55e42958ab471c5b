// TeaCache (Liu et al., "Timestep Embedding Tells: It's Time to Cache for
// Video Diffusion Model", arXiv:2411.19108), in the e0 form of
// TeaCache4Wan2.1 (use_ret_steps): at each pass
//   acc += poly(mean|e0 - e0_prev| / mean|e0_prev|)
// where e0 is the time modulation of the blocks and poly the model's fitted
// polynomial; the pass reuses the residual of every block while acc stays
// below the threshold, else runs them and sets acc to 0. The first
// `ret_steps` steps always run. e0 depends on the timestep alone, so the
// conditional and the unconditional rows of a pass decide alike (the
// reference keeps an even and an odd copy of this state that never differ).
#pragma once

#include "dit/step_cache.h"
#include "dit/step_cache_tables.h"

namespace soragen::dit {

// numpy.poly1d(coefficients)(x): highest power first.
double evaluate_polynomial(const std::vector<double>& coefficients, double x);
// mean|a - b| / mean|b|, the relative L1 change TeaCache and its fit use.
double relative_l1(const at::Tensor& a, const at::Tensor& b);

class TeaCache : public StepCache {
 public:
  TeaCache(TeaCacheTable table, double threshold) : table_(std::move(table)), threshold_(threshold) {}
  double accumulated() const { return accumulated_; }

 protected:
  bool reusable(const at::Tensor& e0, const SumOverRanks& sum_over_ranks, bool ready) override;

 private:
  TeaCacheTable table_;
  double threshold_;
  double accumulated_ = 0;
  at::Tensor previous_e0_;
};

}  // namespace soragen::dit
