#include "dit/step_cache_calibration.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "dit/teacache.h"
#include "soragen/error.h"

namespace soragen::dit {

// Runs every block and records; one per kind of pass and render.
class CalibrationRecorder : public StepCache {
 public:
  CalibrationRecorder(StepCacheCalibration& calibration, int steps) : calibration_(calibration), steps_(steps) {
    auto& sums = calibration_.ratios_[steps];
    if (sums.sum.empty()) {
      sums.sum.assign(2 * static_cast<std::size_t>(std::max(steps - 1, 0)), 0.0);
      sums.count.assign(sums.sum.size(), 0);
    }
    ++sums.renders;
    ++calibration_.renders_;
  }

  void store(const at::Tensor& residual, int64_t valid_tokens) override {
    auto& sums = calibration_.ratios_[steps_];
    for (std::size_t b = 0; b < rows_.size() && static_cast<int64_t>(b) < residual.size(0); ++b) {
      const auto row = static_cast<std::size_t>(rows_[b]);
      const at::Tensor r = residual[static_cast<int64_t>(b)].narrow(0, 0, valid_tokens).to(at::kDouble);
      at::Tensor& previous = previous_[row];
      if (previous.defined() && previous.sizes().equals(r.sizes()) && step_ >= 1) {
        const double ratio = (r.norm(2, {-1}) / previous.norm(2, {-1}).clamp_min(1e-12)).mean().item<double>();
        const std::size_t index = 2 * static_cast<std::size_t>(step_ - 1) + row;
        if (index < sums.sum.size()) {
          sums.sum[index] += ratio;
          sums.count[index] += 1;
        }
        if (e0_change_ >= 0) {
          calibration_.change_in_.push_back(e0_change_);
          calibration_.change_out_.push_back(relative_l1(r, previous));
        }
      }
      previous = r;
    }
  }

 protected:
  bool reusable(const at::Tensor& e0, const SumOverRanks& /*sum_over_ranks*/, bool /*ready*/) override {
    e0_change_ = previous_e0_.defined() && previous_e0_.sizes().equals(e0.sizes()) ? relative_l1(e0, previous_e0_) : -1;
    previous_e0_ = e0;
    return false;
  }

 private:
  StepCacheCalibration& calibration_;
  int steps_;
  at::Tensor previous_e0_;
  double e0_change_ = -1;
  std::array<at::Tensor, 2> previous_;  // by row kind
};

std::unique_ptr<StepCache> StepCacheCalibration::recorder(int steps) {
  return std::make_unique<CalibrationRecorder>(*this, steps);
}

std::vector<double> fit_polynomial(const std::vector<double>& x, const std::vector<double>& y, int degree) {
  const auto n = static_cast<int64_t>(x.size());
  if (n != static_cast<int64_t>(y.size()) || n < degree + 1) {
    throw UsageError("step-cache calibration: " + std::to_string(n) + " points are too few for a degree-" +
                     std::to_string(degree) + " fit");
  }
  // Columns scaled by the largest |x|, so that x^4 of changes around 0.01
  // does not vanish against 1 in the solve; the scale comes back out below.
  double scale = 0;
  for (const double v : x) scale = std::max(scale, std::abs(v));
  if (scale == 0) scale = 1;
  at::Tensor a = at::empty({n, degree + 1}, at::kDouble);
  at::Tensor b = at::tensor(y, at::kDouble).view({n, 1});
  for (int64_t i = 0; i < n; ++i) {
    const double u = x[static_cast<std::size_t>(i)] / scale;
    double power = 1;
    for (int k = degree; k >= 0; --k) {
      a[i][k] = power;
      power *= u;
    }
  }
  // Normal equations through a QR of A: R c = Q^T b.
  const auto [q, r] = at::linalg_qr(a);
  const at::Tensor solution = at::linalg_solve(r, q.transpose(0, 1).matmul(b)).view({degree + 1});
  std::vector<double> coefficients;
  for (int k = 0; k <= degree; ++k) {
    coefficients.push_back(solution[k].item<double>() / std::pow(scale, degree - k));
  }
  return coefficients;
}

StepCacheTables StepCacheCalibration::tables(const std::string& model) const {
  if (renders_ == 0 || ratios_.empty()) throw UsageError("step-cache calibration: no render was recorded");
  StepCacheTables tables;
  tables.model = model;
  const auto most = std::max_element(ratios_.begin(), ratios_.end(), [](const auto& a, const auto& b) {
    return a.second.renders < b.second.renders;
  });
  MagCacheTable mag;
  for (std::size_t i = 0; i < most->second.sum.size(); ++i) {
    const int count = most->second.count[i];
    // A column no render produced (guidance 1 has no uncond) repeats the other's.
    mag.ratios.push_back(count > 0 ? most->second.sum[i] / count : 0.0);
  }
  for (std::size_t i = 0; i < mag.ratios.size(); ++i) {
    if (most->second.count[i] == 0) mag.ratios[i] = mag.ratios[i ^ 1];
  }
  if (!mag.ratios.empty()) tables.magcache = mag;
  if (change_in_.size() >= 5) {
    TeaCacheTable tea;
    tea.coefficients = fit_polynomial(change_in_, change_out_, 4);
    // The published form keeps 5 of 50 steps: the same share.
    tea.ret_steps = std::max(1, static_cast<int>(std::lround(most->first * 0.1)));
    tables.teacache = tea;
  }
  return tables;
}

}  // namespace soragen::dit
