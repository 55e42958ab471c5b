// What the tensor channels (tensor_channel.cpp) read of a ProcessGroup's
// private state: its store, timeout and launch, and how many channels each
// set of members opened. Internal to src/distributed/.
#pragma once

#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>
#include <exception>
#include <memory>
#include <string>

#include "core/torch_errors.h"
#include "soragen/distributed.h"

namespace soragen {

// A store's or Gloo's exception in one line: libtorch 2.x appends a stack
// trace after the first.
inline std::string brief(const std::exception& e) { return core::first_line(e.what()).substr(0, 200); }

struct ProcessGroupInternals {
  static c10::intrusive_ptr<c10d::Store> store(ProcessGroup& group);
  static std::chrono::milliseconds timeout(const ProcessGroup& group);
  static const LaunchEnvironment& env(const ProcessGroup& group);
  // 0, 1, ... for the successive channels over `members` (as text) that
  // this rank opens: every member opens them in the same order.
  static int next_channel_serial(ProcessGroup& group, const std::string& members);
};

}  // namespace soragen
