// What the tensor channels (tensor_channel.cpp) read of a ProcessGroup's
// private state: its store, timeout and launch, and how many channels each
// set of members opened. Internal to src/distributed/.
#pragma once

#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>
#include <memory>
#include <string>

#include "soragen/distributed.h"

namespace soragen {

struct ProcessGroupInternals {
  static c10::intrusive_ptr<c10d::Store> store(ProcessGroup& group);
  static std::chrono::milliseconds timeout(const ProcessGroup& group);
  static const LaunchEnvironment& env(const ProcessGroup& group);
  // 0, 1, ... for the successive channels over `members` (as text) that
  // this rank opens: every member opens them in the same order.
  static int next_channel_serial(ProcessGroup& group, const std::string& members);
};

}  // namespace soragen
