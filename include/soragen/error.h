// Errors of the soragen library. Library code never exits the process: it
// throws one of these, and only the command line maps them to exit codes.
#pragma once

#include <stdexcept>
#include <string>

namespace soragen {

// Process exit codes, as documented in `soragen --help` and README.md.
enum class ExitCode : int {
  ok = 0,
  failure = 1,       // anything unexpected (a bug: please report it)
  usage = 2,         // bad flags, bad prompt file, invalid sizes
  model = 3,         // missing, corrupt or mismatched weights and configs
  output = 4,        // the output could not be written
  batch_failed = 5,  // some items of a batch failed, the others were written
  internal = 6,      // a contract inside soragen broke (a shape its own code got wrong): a bug, please report it
  rank_failed = 7,   // another process of a multi-process job failed or fell silent; this one stopped
  interrupted = 130, // Ctrl-C / SIGTERM: stopped, nothing partial written
};

// Base of every error the library throws. what() is one line that names the
// file, flag or tensor concerned and the rule it broke.
class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  ExitCode exit_code() const noexcept { return code_; }

 private:
  ExitCode code_;
};

// A flag, prompt or request that breaks a rule.
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& message) : Error(ExitCode::usage, message) {}
};

// Weights, configs or tokenizer files that are missing, corrupt or do not fit.
class ModelError : public Error {
 public:
  explicit ModelError(const std::string& message) : Error(ExitCode::model, message) {}
};

// A video or image that could not be written.
class OutputError : public Error {
 public:
  explicit OutputError(const std::string& message) : Error(ExitCode::output, message) {}
};

// A contract between soragen's own components broke: a tensor shape or a
// call order that the calling code got wrong, never something the user
// gave (that is a UsageError, checked before any model runs).
class InternalError : public Error {
 public:
  explicit InternalError(const std::string& message) : Error(ExitCode::internal, message) {}
};

// The user asked to stop (SIGINT/SIGTERM); thrown between steps.
class InterruptedError : public Error {
 public:
  explicit InterruptedError(const std::string& message) : Error(ExitCode::interrupted, message) {}
};

// Another rank of a multi-process job failed or fell silent, so this one
// stopped (or could not join the job at all).
class RankFailedError : public Error {
 public:
  explicit RankFailedError(const std::string& message) : Error(ExitCode::rank_failed, message) {}
};

}  // namespace soragen
