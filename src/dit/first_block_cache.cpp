#include "dit/first_block_cache.h"

#include <ATen/ATen.h>

namespace soragen::dit {

bool FirstBlockCache::reusable(const at::Tensor& first_residual, const SumOverRanks& sum_over_ranks, bool ready) {
  candidate_ = first_residual;
  if (!ready || !first_residual_.defined() || !first_residual_.sizes().equals(first_residual.sizes())) return false;
  if (sum_over_ranks) {
    // A ratio of means over the whole residual is the ratio of its sums.
    const at::Tensor sums = sum_over_ranks(
        at::stack({(first_residual - first_residual_).abs().sum(), first_residual_.abs().sum()}).to(at::kDouble));
    return (sums[0] / sums[1].clamp_min(1e-12)).item<double>() < threshold_;
  }
  const double change =
      ((first_residual - first_residual_).abs().mean() / first_residual_.abs().mean().clamp_min(1e-12))
          .item<double>();
  return change < threshold_;
}

void FirstBlockCache::store(const at::Tensor& rest_residual, int64_t valid_tokens) {
  StepCache::store(rest_residual, valid_tokens);
  first_residual_ = candidate_;
}

}  // namespace soragen::dit
