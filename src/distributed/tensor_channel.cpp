#include "distributed/tensor_channel.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#ifndef SORAGEN_WITH_GLOO
#error "src/distributed/CMakeLists.txt sets SORAGEN_WITH_GLOO to 0 or 1"
#endif
#if SORAGEN_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifndef SORAGEN_WITH_NCCL
#error "src/distributed/CMakeLists.txt sets SORAGEN_WITH_NCCL to 0 or 1"
#endif
#if SORAGEN_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <algorithm>
#include <cstdlib>
#include <string>

#include "core/torch_compat.h"
#include "core/torch_errors.h"
#include "distributed/process_group_internals.h"
#include "soragen/error.h"

namespace soragen::distributed {
namespace {

std::string members_text(const std::vector<int>& members) {
  std::string text;
  for (const int rank : members) text += (text.empty() ? "" : ",") + std::to_string(rank);
  return text;
}

// What a floating tensor travels as (see the header).
at::Tensor on_the_wire(const at::Tensor& tensor) {
  const at::ScalarType wire = at::isFloatingType(tensor.scalar_type()) ? at::kFloat : tensor.scalar_type();
  return tensor.to(at::kCPU, wire).contiguous();
}

}  // namespace

struct TensorChannel::Impl {
  ProcessGroup* group = nullptr;
  int rank = 0;
  int size = 1;
#if SORAGEN_WITH_GLOO
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
#endif
#if SORAGEN_WITH_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;  // null unless opened for a CUDA device
#endif
#if SORAGEN_WITH_GLOO
  // The group a collective on this tensor runs in (libtorch 2.x calls the
  // common base of Gloo's and NCCL's groups Backend; 1.13 ProcessGroup).
#if SORAGEN_TORCH_2
  using Collectives = c10d::Backend;
#else
  using Collectives = c10d::ProcessGroup;
#endif
  Collectives& backend(bool gpu) {
#if SORAGEN_WITH_NCCL
    if (gpu) return *nccl;
#endif
    (void)gpu;
    return *gloo;
  }
#endif
  bool carries_on_gpu(const at::Tensor& tensor) const {
#if SORAGEN_WITH_NCCL
    return nccl && tensor.is_cuda();
#else
    (void)tensor;
    return false;
#endif
  }

  // Runs one Gloo collective; a rank gone mid-collective breaks Gloo's
  // pairs, and the heartbeat says whose.
  template <typename Collective>
  void run(Collective&& collective) {
    if (auto failed = group->failure()) throw RankFailedError(*failed);
    try {
      collective();
    } catch (const std::exception& e) {
      if (auto failed = group->failure()) throw RankFailedError(*failed);
      throw RankFailedError("a tensor exchange between the ranks failed (" + brief(e) + ")");
    }
  }
};

TensorChannel::TensorChannel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TensorChannel::~TensorChannel() = default;
int TensorChannel::rank() const { return impl_->rank; }
int TensorChannel::size() const { return impl_->size; }
bool TensorChannel::uses_nccl() const {
#if SORAGEN_WITH_NCCL
  return impl_->nccl != nullptr;
#else
  return false;
#endif
}

bool nccl_available() { return SORAGEN_WITH_NCCL != 0; }

at::Tensor TensorChannel::sum(const at::Tensor& mine) {
  at::Tensor total = at::zeros_like(mine);
  for (const at::Tensor& part : all_gather(mine)) total.add_(part);
  return total;
}

std::vector<int> every_rank(const ProcessGroup& group) {
  std::vector<int> everyone(static_cast<size_t>(group.world_size()));
  for (int r = 0; r < group.world_size(); ++r) everyone[static_cast<size_t>(r)] = r;
  return everyone;
}

std::shared_ptr<TensorChannel> open_tensor_channel(ProcessGroup& group) {
  return open_tensor_channel(group, every_rank(group));
}

#if SORAGEN_WITH_GLOO
namespace {

// The interface Gloo's pairs listen on: GLOO_SOCKET_IFNAME when set (as for
// torch.distributed), the loopback for a job on one machine, else the
// address this machine's host name resolves to.
std::shared_ptr<::gloo::transport::Device> gloo_device(const LaunchEnvironment& env) {
  if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME"); interface && *interface) {
    return c10d::ProcessGroupGloo::createDeviceForInterface(interface);
  }
  if (env.master_addr == "127.0.0.1" || env.master_addr == "localhost" || env.local_world_size == env.world_size) {
    return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  }
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

}  // namespace

std::shared_ptr<TensorChannel> open_tensor_channel(ProcessGroup& group, const std::vector<int>& members,
                                                   c10::Device device) {
  const auto self = std::find(members.begin(), members.end(), group.rank());
  if (members.empty() || self == members.end() || !std::is_sorted(members.begin(), members.end()) ||
      members.front() < 0 || members.back() >= group.world_size()) {
    throw InternalError("open_tensor_channel: rank " + std::to_string(group.rank()) + " of " +
                        std::to_string(group.world_size()) + " opening a channel over ranks " +
                        members_text(members));
  }
  auto impl = std::make_unique<TensorChannel::Impl>();
  impl->group = &group;
  impl->rank = static_cast<int>(self - members.begin());
  impl->size = static_cast<int>(members.size());
  // Each opening of a set of members gets its own keys in the store.
  const std::string name = members_text(members);
  const int serial = ProcessGroupInternals::next_channel_serial(group, name);
  const LaunchEnvironment& env = ProcessGroupInternals::env(group);
  try {
    auto options = c10d::ProcessGroupGloo::Options::create(ProcessGroupInternals::timeout(group));
    options->devices.push_back(gloo_device(env));
    const auto store = c10::make_intrusive<c10d::PrefixStore>(
        "soragen/gloo/" + name + "/" + std::to_string(serial), ProcessGroupInternals::store(group));
    impl->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(store, impl->rank, impl->size, options);
#if SORAGEN_WITH_NCCL
    // NCCL's communicator forms at the first collective, over its own keys;
    // each rank's tensors are on its own GPU (device_for_rank).
    if (device.is_cuda()) {
      auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
      nccl_options->timeout = ProcessGroupInternals::timeout(group);
      const auto nccl_store = c10::make_intrusive<c10d::PrefixStore>(
          "soragen/nccl/" + name + "/" + std::to_string(serial), ProcessGroupInternals::store(group));
      impl->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(nccl_store, impl->rank, impl->size, nccl_options);
    }
#else
    (void)device;
#endif
  } catch (const std::exception& e) {
    if (auto failed = group.failure()) throw RankFailedError(*failed);
    throw RankFailedError("rank " + std::to_string(group.rank()) + " could not open the Gloo channel between ranks " +
                          name + " (" + brief(e) + "); set GLOO_SOCKET_IFNAME to the network interface that "
                          "reaches the others");
  }
  return std::make_shared<TensorChannel>(std::move(impl));
}

std::vector<at::Tensor> TensorChannel::all_gather(const at::Tensor& mine) {
  // Gloo writes the outputs from its own worker thread, outside the
  // caller's InferenceMode: they must be normal tensors, not inference ones.
  const c10::InferenceMode normal_tensors(false);
  const bool gpu = impl_->carries_on_gpu(mine);
  std::vector<at::Tensor> inputs{gpu ? mine.contiguous().clone() : on_the_wire(mine).clone()};
  std::vector<std::vector<at::Tensor>> outputs(1);
  for (int r = 0; r < impl_->size; ++r) outputs[0].push_back(at::empty_like(inputs[0]));
  impl_->run([&] { impl_->backend(gpu).allgather(outputs, inputs)->wait(); });
  std::vector<at::Tensor> gathered;
  for (at::Tensor& tensor : outputs[0]) gathered.push_back(tensor.to(mine.device(), mine.scalar_type()));
  return gathered;
}

at::Tensor TensorChannel::all_to_all(const at::Tensor& chunks) {
  if (chunks.dim() == 0 || chunks.size(0) != impl_->size) {
    throw InternalError("TensorChannel::all_to_all: " + std::to_string(chunks.dim() ? chunks.size(0) : 0) +
                        " chunks for " + std::to_string(impl_->size) + " members");
  }
  const c10::InferenceMode normal_tensors(false);
  const bool gpu = impl_->carries_on_gpu(chunks);
  at::Tensor input = gpu ? chunks.contiguous().clone() : on_the_wire(chunks).clone();
  at::Tensor output = at::empty_like(input);
  std::vector<int64_t> equal_split;  // empty: every chunk the same size
  impl_->run([&] { impl_->backend(gpu).alltoall_base(output, input, equal_split, equal_split)->wait(); });
  return output.to(chunks.device(), chunks.scalar_type());
}

#else
std::shared_ptr<TensorChannel> open_tensor_channel(ProcessGroup&, const std::vector<int>&, c10::Device) {
  throw UsageError("this soragen was built without Gloo (Debian's libgloo-dev), so its processes cannot exchange "
                   "tensors: install libgloo-dev and rebuild");
}

std::vector<at::Tensor> TensorChannel::all_gather(const at::Tensor&) {
  throw InternalError("TensorChannel::all_gather: this build has no Gloo");
}

at::Tensor TensorChannel::all_to_all(const at::Tensor&) {
  throw InternalError("TensorChannel::all_to_all: this build has no Gloo");
}
#endif

}  // namespace soragen::distributed
