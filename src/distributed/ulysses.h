// The channels of one render split over the ranks (--parallel): U ranks
// share each DiT pass's tokens (Ulysses, dit/sequence_parallel.h) and C = 1
// or 2 groups of them split CFG's conditional and unconditional passes.
// Rank r is member r % U of Ulysses group r / U, and member r / U of the
// CFG pair {r % U, r % U + U}.
#pragma once

#include <memory>

#include "dit/sequence_parallel.h"
#include "distributed/tensor_channel.h"
#include "soragen/distributed.h"

namespace soragen::distributed {

// dit::SequenceParallel over a tensor channel.
class UlyssesGroup : public dit::SequenceParallel {
 public:
  explicit UlyssesGroup(std::shared_ptr<TensorChannel> channel) : channel_(std::move(channel)) {}
  int64_t ranks() const override { return channel_->size(); }
  int64_t rank() const override { return channel_->rank(); }
  at::Tensor all_to_all(const at::Tensor& chunks) override { return channel_->all_to_all(chunks); }
  at::Tensor all_gather(const at::Tensor& mine) override;
  TensorChannel& channel() { return *channel_; }

 private:
  std::shared_ptr<TensorChannel> channel_;
};

struct RenderChannels {
  std::shared_ptr<UlyssesGroup> ulysses;  // null when U = 1
  std::shared_ptr<TensorChannel> cfg;     // null when C = 1
  std::shared_ptr<TensorChannel> everyone;  // every rank: the tiles of a split VAE decode
};

// Opens this rank's channels for `plan` (U * C = the world size, checked by
// check_parallel_plan), for tensors on `device` (NCCL between GPUs where the
// build has it). Collective over every rank.
RenderChannels open_render_channels(ProcessGroup& group, const ParallelPlan& plan,
                                    c10::Device device = c10::Device(c10::kCPU));

}  // namespace soragen::distributed
