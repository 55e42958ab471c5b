// Logging without global state: library functions take a Logger, which
// forwards to whatever sink the caller gave it (the CLI's is spdlog).
#pragma once

#include <functional>
#include <string>
#include <utility>

namespace soragen {

enum class LogLevel : int { debug = 0, info = 1, warning = 2, error = 3, off = 4 };

using LogSink = std::function<void(LogLevel, const std::string&)>;

class Logger {
 public:
  // A default Logger discards everything (for tests and quiet library use).
  Logger() = default;
  explicit Logger(LogSink sink, LogLevel min_level = LogLevel::info)
      : sink_(std::move(sink)), min_level_(min_level) {}

  bool enabled(LogLevel level) const { return sink_ && level >= min_level_ && level != LogLevel::off; }
  void log(LogLevel level, const std::string& message) const {
    if (enabled(level)) sink_(level, message);
  }
  void debug(const std::string& message) const { log(LogLevel::debug, message); }
  void info(const std::string& message) const { log(LogLevel::info, message); }
  void warn(const std::string& message) const { log(LogLevel::warning, message); }
  void error(const std::string& message) const { log(LogLevel::error, message); }

 private:
  LogSink sink_;
  LogLevel min_level_ = LogLevel::info;
};

// libtorch's own log lines on stderr, process-wide: c10d logs a failed store
// connection through glog (Debian's libtorch) or c10's logger (PyTorch's)
// before soragen's one-line error says the same. Lines below `level` are
// dropped; LogLevel::debug restores libtorch's defaults.
void set_libtorch_log_level(LogLevel level);

}  // namespace soragen
