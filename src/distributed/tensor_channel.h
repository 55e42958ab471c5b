// Tensors between the ranks of a ProcessGroup, over its c10d Gloo process
// group (ProcessGroup::open_tensor_channel). Gloo works on CPU tensors: a
// tensor on a GPU goes through host memory and comes back to its device.
#pragma once

#include <ATen/ATen.h>

#include <vector>

#include "soragen/distributed.h"

namespace soragen::distributed {

// Every rank's `mine`, indexed by rank; each rank gives a tensor of the same
// shape and dtype. Collective. Throws RankFailedError when the job has
// failed, InternalError when the channel is not open.
std::vector<at::Tensor> all_gather(ProcessGroup& group, const at::Tensor& mine);

}  // namespace soragen::distributed
