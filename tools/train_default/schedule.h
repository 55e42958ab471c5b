// Learning-rate schedule shared by the stages: linear warm-up, then cosine
// decay to a tenth of the peak at the last step.
#pragma once

#include <torch/optim/adamw.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace soragen::train {

inline double learning_rate(double peak, int64_t step, int64_t steps, int64_t warmup = 100) {
  const double warm = std::min(1.0, static_cast<double>(step + 1) / static_cast<double>(warmup));
  const double progress = std::clamp(static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, steps)), 0.0, 1.0);
  return peak * warm * (0.1 + 0.9 * 0.5 * (1.0 + std::cos(M_PI * progress)));
}

inline void set_learning_rate(torch::optim::AdamW& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
}

}  // namespace soragen::train
