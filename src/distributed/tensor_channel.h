// Tensors between the ranks of a ProcessGroup, over c10d process groups on
// the job's store, each over some of the ranks (the pairs of CFG
// parallelism, the groups of Ulysses: distributed/ulysses.h).
//  - Gloo carries CPU tensors. Floating tensors travel as float32 (bf16 and
//    fp16 widen exactly), so an exchange does not depend on Gloo's list of
//    reduced types.
//  - NCCL carries CUDA tensors, in their own dtype and without leaving the
//    GPUs, when the channel is opened for a CUDA device and soragen is built
//    against a libtorch with NCCL (PyTorch's CUDA wheel). Otherwise a CUDA
//    tensor goes through host memory and Gloo, and comes back to its device.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

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
  // Whether CUDA tensors cross over NCCL (else through host memory and Gloo).
  bool uses_nccl() const;

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
// has no Gloo. `device`: where the tensors it carries live; a CUDA device
// also opens an NCCL group where the build has one (nccl_available()).
std::shared_ptr<TensorChannel> open_tensor_channel(ProcessGroup& group, const std::vector<int>& members,
                                                   c10::Device device = c10::Device(c10::kCPU));
// The ranks of the job, 0 .. world size - 1: the members of a channel over all.
std::vector<int> every_rank(const ProcessGroup& group);
// The channel over every rank of the job, for CPU tensors.
std::shared_ptr<TensorChannel> open_tensor_channel(ProcessGroup& group);

// Whether this build carries CUDA tensors over NCCL.
bool nccl_available();

}  // namespace soragen::distributed
