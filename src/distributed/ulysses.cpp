#include "distributed/ulysses.h"

#include <ATen/ATen.h>

#include <vector>

namespace soragen::distributed {

at::Tensor UlyssesGroup::all_gather(const at::Tensor& mine) { return at::stack(channel_->all_gather(mine)); }

RenderChannels open_render_channels(ProcessGroup& group, const ParallelPlan& plan, c10::Device device) {
  check_parallel_plan(plan, group.world_size());
  const int rank = group.rank();
  RenderChannels channels;
  // The Ulysses groups first, then the CFG pairs (each set disjoint, so
  // every member meets its group at the same step), then every rank.
  if (plan.ulysses > 1) {
    std::vector<int> members;
    const int first = rank / plan.ulysses * plan.ulysses;
    for (int m = 0; m < plan.ulysses; ++m) members.push_back(first + m);
    channels.ulysses = std::make_shared<UlyssesGroup>(open_tensor_channel(group, members, device));
  }
  if (plan.cfg > 1) {
    const int position = rank % plan.ulysses;
    channels.cfg = open_tensor_channel(group, {position, position + plan.ulysses}, device);
  }
  channels.everyone = open_tensor_channel(group, every_rank(group), device);
  return channels;
}

}  // namespace soragen::distributed
