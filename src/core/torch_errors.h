// libtorch reports its own failures as c10::Error (a CUDA out-of-memory, a
// kernel that rejects a shape). None may cross the public API (the CLI and
// library users see soragen::Error only), so the public entry points run
// their bodies through rethrow_torch_errors.
#pragma once

#include <c10/util/Exception.h>

#include <string>

#include "soragen/error.h"

namespace soragen::core {

// The first line of a libtorch message: the rest is a C++ stack trace.
inline std::string first_line(const char* message) {
  const std::string text = message;
  return text.substr(0, text.find('\n'));
}

// Returns body(); a c10::Error thrown inside becomes a soragen::Error with
// ExitCode::failure and a one-line message.
template <typename Body>
auto rethrow_torch_errors(Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const c10::OutOfMemoryError& e) {
    throw Error(ExitCode::failure, "out of memory: " + first_line(e.what_without_backtrace()) +
                                       " (try --offload, --vae-tile, a smaller size or fewer frames)");
  } catch (const c10::Error& e) {
    throw Error(ExitCode::failure, "libtorch: " + first_line(e.what_without_backtrace()));
  }
}

}  // namespace soragen::core
