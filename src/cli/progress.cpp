#include "cli/progress.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

namespace soragen::cli {
namespace {

std::string format_gib(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  return text;
}

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) seconds = 0;
  const long total = std::lround(seconds);
  char text[32];
  if (total >= 3600) {
    std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", total / 3600, total / 60 % 60, total % 60);
  } else {
    std::snprintf(text, sizeof text, "%ld:%02ld", total / 60, total % 60);
  }
  return text;
}

std::string ProgressReporter::format_bar(const char* stage, int step, int total, double seconds_per_step,
                                         double eta_seconds, int width) {
  const int filled = total > 0 ? step * width / total : width;
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.resize(static_cast<std::size_t>(width), '.');
  char text[160];
  std::snprintf(text, sizeof text, "%-13s [%s] %d/%d  %.2f s/it  ETA %s", stage, bar.c_str(), step, total,
                seconds_per_step, format_duration(eta_seconds).c_str());
  return text;
}

ProgressReporter::ProgressReporter(ProgressMode mode, std::ostream& terminal, const Logger& logger, Clock clock)
    : mode_(mode), terminal_(terminal), logger_(logger), clock_(std::move(clock)) {
  if (!clock_) {
    clock_ = [] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    };
  }
}

void ProgressReporter::operator()(const ProgressEvent& event) {
  const double now = clock_();
  // "denoising, window 2/5 [#####.....] 7/20 ..." for a video made in windows.
  const std::string label = event.windows > 1 ? std::string(stage_name(event.stage)) + ", window " +
                                                    std::to_string(event.window) + "/" + std::to_string(event.windows)
                                              : stage_name(event.stage);
  const char* name = label.c_str();
  if (event.step == 0) {
    stage_start_ = now;
    last_step_time_ = now;
    return;
  }
  const double elapsed = now - stage_start_;
  const double per_step = elapsed / event.step;
  const double eta = per_step * (event.total - event.step);
  const bool done = event.step >= event.total;
  if (done) stage_seconds_[static_cast<int>(event.stage)] += elapsed;
  if (done && event.device_peak_bytes >= 0) {
    int64_t& peak = stage_peak_bytes_[static_cast<int>(event.stage)];
    peak = std::max(peak, event.device_peak_bytes);
  }
  last_step_time_ = now;

  switch (mode_) {
    case ProgressMode::quiet:
      return;
    case ProgressMode::bar:
      if (event.total > 1) {
        terminal_ << '\r' << format_bar(name, event.step, event.total, per_step, eta) << "\x1b[K";
        bar_open_ = !done;
        if (done) terminal_ << '\n';
      } else if (done) {
        char text[96];
        std::snprintf(text, sizeof text, "%-13s done in %.1f s", name, elapsed);
        terminal_ << text << '\n';
      }
      terminal_.flush();
      return;
    case ProgressMode::lines: {
      char text[160];
      if (event.total > 1) {
        std::snprintf(text, sizeof text, "%s step %d/%d (%.2f s/it, ETA %s)", name, event.step, event.total,
                      per_step, format_duration(eta).c_str());
      } else {
        std::snprintf(text, sizeof text, "%s done in %.1f s", name, elapsed);
      }
      logger_.info(text);
      return;
    }
  }
}

std::string ProgressReporter::timings() const {
  std::string out;
  for (int i = 0; i < kStages; ++i) {
    if (stage_seconds_[i] <= 0) continue;
    char text[64];
    std::snprintf(text, sizeof text, "%s%s %.1f s", out.empty() ? "" : ", ", stage_name(static_cast<Stage>(i)),
                  stage_seconds_[i]);
    out += text;
    if (stage_peak_bytes_[i] >= 0) out += " (peak GPU " + format_gib(stage_peak_bytes_[i]) + ")";
  }
  return out.empty() ? "no stage finished" : out;
}

}  // namespace soragen::cli
