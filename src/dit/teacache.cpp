#include "dit/teacache.h"

#include <ATen/ATen.h>

namespace soragen::dit {

double evaluate_polynomial(const std::vector<double>& coefficients, double x) {
  double value = 0;
  for (const double c : coefficients) value = value * x + c;
  return value;
}

double relative_l1(const at::Tensor& a, const at::Tensor& b) {
  return ((a - b).abs().mean() / b.abs().mean().clamp_min(1e-12)).item<double>();
}

bool TeaCache::reusable(const at::Tensor& e0, const SumOverRanks& /*sum_over_ranks*/, bool ready) {
  // e0 is the whole sequence's on every rank, so no sum over ranks is needed.
  bool reuse = false;
  if (step_ < table_.ret_steps || !previous_e0_.defined() || !previous_e0_.sizes().equals(e0.sizes())) {
    accumulated_ = 0;
  } else {
    accumulated_ += evaluate_polynomial(table_.coefficients, relative_l1(e0, previous_e0_));
    if (accumulated_ < threshold_ && ready) {
      reuse = true;
    } else {
      accumulated_ = 0;
    }
  }
  previous_e0_ = e0;
  return reuse;
}

}  // namespace soragen::dit
