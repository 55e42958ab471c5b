// The device each rank of a multi-process job renders on.
#include <torch/cuda.h>

#include "soragen/distributed.h"

namespace soragen {

std::string device_for_rank(const std::string& device, const LaunchEnvironment& env) {
  if (device != "auto" && device != "cuda") return device;
  if (!torch::cuda::is_available()) return device == "auto" ? "cpu" : device;  // "cuda" fails later, with its message
  // torchrun and srun start one process per GPU, numbered by LOCAL_RANK;
  // more ranks than GPUs share them in turn.
  const auto gpus = static_cast<int>(torch::cuda::device_count());
  return "cuda:" + std::to_string(env.local_rank % gpus);
}

}  // namespace soragen
