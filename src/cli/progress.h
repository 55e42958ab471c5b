// Progress of a render on the terminal: a live bar per stage on a TTY, one
// log line per step otherwise, nothing with --quiet.
#pragma once

#include <array>
#include <functional>
#include <ostream>
#include <string>

#include "soragen/log.h"
#include "soragen/pipeline.h"

namespace soragen::cli {

enum class ProgressMode { bar, lines, quiet };

class ProgressReporter {
 public:
  using Clock = std::function<double()>;  // seconds; injectable for tests

  ProgressReporter(ProgressMode mode, std::ostream& terminal, const Logger& logger, Clock clock = {});

  void operator()(const ProgressEvent& event);

  // Seconds spent in each stage since construction, e.g.
  // "text encoding 0.8 s, denoising 12.1 s, VAE decoding 1.9 s, writing 0.3 s",
  // with the stage's peak device memory where the pipeline reported one:
  // "denoising 12.1 s (peak GPU 9.8 GiB)".
  std::string timings() const;

  // The bar line for a step, without carriage return (exposed for tests).
  static std::string format_bar(const char* stage, int step, int total, double seconds_per_step,
                                double eta_seconds, int width = 24);

 private:
  static constexpr int kStages = 7;  // every Stage, write included
  ProgressMode mode_;
  std::ostream& terminal_;
  const Logger& logger_;
  Clock clock_;
  std::array<double, kStages> stage_seconds_{};
  std::array<int64_t, kStages> stage_peak_bytes_{-1, -1, -1, -1, -1, -1, -1};
  double stage_start_ = 0;
  double last_step_time_ = 0;
  bool bar_open_ = false;
};

// "1:02:03", "4:07", "0:09".
std::string format_duration(double seconds);

}  // namespace soragen::cli
