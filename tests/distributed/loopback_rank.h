// The launch of rank `rank` of `world_size` ranks on this machine, as
// torchrun would describe it, for ranks that are threads of a test.
#pragma once

#include "soragen/distributed.h"

namespace soragen::test {

inline LaunchEnvironment loopback_rank(int rank, int world_size, int port) {
  LaunchEnvironment env;
  env.launcher = Launcher::torchrun;
  env.rank = rank;
  env.world_size = world_size;
  env.local_rank = rank;
  env.local_world_size = world_size;
  env.master_addr = "127.0.0.1";
  env.master_port = port;
  return env;
}

}  // namespace soragen::test
