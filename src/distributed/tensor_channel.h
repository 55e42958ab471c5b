// Tensors between the ranks of a ProcessGroup, over c10d Gloo process groups
// on the job's store, each over some of the ranks (the pairs of CFG
// parallelism, the groups of Ulysses: distributed/ulysses.h). Gloo works on CPU tensors: a tensor
// on a GPU goes through host memory and comes back to its device. Floating
// tensors travel as float32 (bf16 and fp16 widen exactly), so an exchange
// does not depend on Gloo's list of reduced types.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <vector>

#include "soragen/distributed.h"

namespace soragen::distributed {

// A Gloo process group over some ranks of a job. Its calls are collective
// over its members; each throws RankFailedError when the job has failed (or
// fails during the exchange). It must not outlive its ProcessGroup.
class TensorChannel {
 public:
  struct Impl;
  explicit TensorChannel(std::unique_ptr<Impl> impl);
  ~TensorChannel();

  int rank() const;  // among the members, 0 <= rank < size
  int size() const;

  // Every member's `mine` (one shape and dtype on all), indexed by member rank.
  std::vector<at::Tensor> all_gather(const at::Tensor& mine);
  // chunks [size, ...]: chunk j goes to member j; returns [size, ...] whose
  // chunk i came from member i.
  at::Tensor all_to_all(const at::Tensor& chunks);
  // Every member's `mine` added up in member order, so that every member
  // gets the same sum.
  at::Tensor sum(const at::Tensor& mine);

 private:
  std::unique_ptr<Impl> impl_;
};

// The channel over `members` (ranks of the job, ascending, this rank among
// them). Only the members call it, at the same point; channels over the
// same members opened twice are distinct. Throws RankFailedError when the
// members do not meet within the group's timeout, UsageError when this build
// has no Gloo.
std::shared_ptr<TensorChannel> open_tensor_channel(ProcessGroup& group, const std::vector<int>& members);
// The channel over every rank of the job.
std::shared_ptr<TensorChannel> open_tensor_channel(ProcessGroup& group);

}  // namespace soragen::distributed
