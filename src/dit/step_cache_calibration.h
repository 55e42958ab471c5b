// Fitting TeaCache's polynomial and MagCache's ratio table to a model that
// has none published (a fine-tune, the embedded default), the way both
// projects calibrate theirs: renders run every block, and each pass records
//  - MagCache: per row, the mean over tokens of |r_n| / |r_n-1|, r the
//    residual of all blocks and |.| the norm over the model width;
//  - TeaCache: the relative L1 change of e0 (x) against that of the residual
//    (y), the change a reuse would miss; a degree-4 polynomial y(x) is fitted.
// Renders with the same step count average into one table.
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "dit/step_cache.h"
#include "dit/step_cache_tables.h"

namespace soragen::dit {

class StepCacheCalibration {
 public:
  // The cache of one kind of pass for one render of `steps` steps: it never
  // reuses, and records into this calibration.
  std::unique_ptr<StepCache> recorder(int steps);

  // The fitted tables: MagCache's ratios at the step count most renders
  // used, TeaCache's polynomial over every pass. Throws UsageError when
  // nothing was recorded.
  StepCacheTables tables(const std::string& model) const;
  int renders() const { return renders_; }

 private:
  friend class CalibrationRecorder;
  struct RatioSums {
    std::vector<double> sum;  // 2 * (steps - 1): cond and uncond interleaved, from step 1
    std::vector<int> count;
    int renders = 0;
  };
  std::map<int, RatioSums> ratios_;  // by step count
  std::vector<double> change_in_;    // TeaCache x
  std::vector<double> change_out_;   // TeaCache y
  int renders_ = 0;
};

// Least squares polynomial of `degree` through (x, y), highest power first
// (numpy.polyfit). Throws UsageError with fewer points than coefficients.
std::vector<double> fit_polynomial(const std::vector<double>& x, const std::vector<double>& y, int degree);

}  // namespace soragen::dit
