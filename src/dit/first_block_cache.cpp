#include "dit/first_block_cache.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include "core/parse_rule.h"

namespace soragen::dit {

StepCacheSpec parse_step_cache(const std::string& text) {
  StepCacheSpec spec;
  if (text == "none") return spec;
  const std::string::size_type colon = text.find(':');
  const std::string name = text.substr(0, colon);
  if (name != "fbcache") throw std::invalid_argument("'" + name + "': expected none or fbcache[:THRESHOLD]");
  spec.enabled = true;
  if (colon == std::string::npos) return spec;
  const std::string value = text.substr(colon + 1);
  char* end = nullptr;
  spec.threshold = value.empty() ? NAN : std::strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0' || !(spec.threshold > 0 && spec.threshold <= 1)) {
    throw std::invalid_argument("threshold '" + value + "': expected a number above 0 and at most 1, e.g. 0.1");
  }
  return spec;
}

std::string step_cache_error(const std::string& text) { return core::parse_error(parse_step_cache, text); }

bool FirstBlockCache::reusable(const at::Tensor& first_residual,
                               const std::function<at::Tensor(const at::Tensor&)>& sum_over_ranks) {
  ++passes_;
  if (!first_residual_.defined() || !first_residual_.sizes().equals(first_residual.sizes())) return false;
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

at::Tensor FirstBlockCache::reuse(const at::Tensor& first_out) {
  ++reused_;
  return first_out + rest_residual_;
}

void FirstBlockCache::store(const at::Tensor& first_residual, const at::Tensor& rest_residual) {
  first_residual_ = first_residual;
  rest_residual_ = rest_residual;
}

}  // namespace soragen::dit
