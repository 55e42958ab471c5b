// c10d rendezvous, gathers and failures between ranks that are threads of
// this process, each with its own TCPStore connection as a process would have.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <array>
#include <future>
#include <thread>

#include <ATen/ATen.h>

#include "distributed/tensor_channel.h"
#include "expect_throw.h"
#include "free_port.h"
#include "loopback_rank.h"
#include "soragen/distributed.h"
#include "soragen/error.h"

namespace soragen {
namespace {

using namespace std::chrono_literals;

// Polls `done` for up to `seconds`.
bool eventually(const std::function<bool()>& done, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

TEST(ProcessGroup, RanksGatherEachOthersValuesInRankOrder) {
  const int port = test::free_loopback_port();
  ASSERT_GT(port, 0);
  static constexpr int kRanks = 3;
  std::vector<std::future<std::vector<std::vector<std::string>>>> ranks;
  for (int r = 0; r < kRanks; ++r) {
    ranks.push_back(std::async(std::launch::async, [r, port] {
      std::atomic<bool> stop{false};
      auto group = ProcessGroup::join(test::loopback_rank(r, kRanks, port), 20s, &stop);
      EXPECT_EQ(group->rank(), r);
      EXPECT_EQ(group->world_size(), kRanks);
      std::vector<std::vector<std::string>> gathered;
      gathered.push_back(group->all_gather("first", "value of " + std::to_string(r)));
      gathered.push_back(group->all_gather("second", std::string(r + 1, 'x')));
      EXPECT_FALSE(group->failure());
      group->leave();
      EXPECT_FALSE(stop.load());
      return gathered;
    }));
  }
  for (int r = 0; r < kRanks; ++r) {
    const auto gathered = ranks[r].get();
    ASSERT_EQ(gathered.size(), 2u);
    EXPECT_EQ(gathered[0], (std::vector<std::string>{"value of 0", "value of 1", "value of 2"})) << "rank " << r;
    EXPECT_EQ(gathered[1], (std::vector<std::string>{"x", "xx", "xxx"})) << "rank " << r;
  }
}

TEST(ProcessGroup, AReportedFailureStopsTheOtherRanks) {
  const int port = test::free_loopback_port();
  ASSERT_GT(port, 0);
  std::promise<void> joined;
  auto failing = std::async(std::launch::async, [port, &joined] {
    std::atomic<bool> stop{false};
    auto group = ProcessGroup::join(test::loopback_rank(1, 2, port), 20s, &stop);
    joined.set_value();
    group->report_failure("weights 'dit.safetensors' are cut short");
    EXPECT_FALSE(group->failure()) << "a rank's own report is not a failure of another";
    EXPECT_FALSE(stop.load());
  });
  std::atomic<bool> stop{false};
  auto group = ProcessGroup::join(test::loopback_rank(0, 2, port), 20s, &stop);
  joined.get_future().wait();
  // The stop flag is how a render in progress learns of it.
  EXPECT_TRUE(eventually([&] { return stop.load(); }, 10));
  ASSERT_TRUE(group->failure());
  EXPECT_EQ(*group->failure(), "rank 1: weights 'dit.safetensors' are cut short");
  // A collective after the failure ends at once with the cause.
  SORAGEN_EXPECT_THROW_MESSAGE(group->all_gather("after", "x"), RankFailedError, "rank 1: weights", true);
  failing.get();
}

TEST(ProcessGroup, ASilentRankEndsTheJobAfterTheTimeout) {
  const int port = test::free_loopback_port();
  ASSERT_GT(port, 0);
  std::atomic<bool> stop0{false}, stop2{false};
  std::promise<void> all_in;
  auto silent = std::async(std::launch::async, [port, &all_in] {
    std::atomic<bool> stop{false};
    auto group = ProcessGroup::join(test::loopback_rank(1, 3, port), 20s, &stop);
    all_in.get_future().wait();
    // Dropped without leave(): its heartbeat stops, as a killed process's would.
  });
  auto other = std::async(std::launch::async, [port, &stop2] {
    auto group = ProcessGroup::join(test::loopback_rank(2, 3, port), 20s, &stop2, 1s);
    EXPECT_TRUE(eventually([&] { return stop2.load(); }, 20));
    return group->failure().value_or("");
  });
  // A rendezvous a loaded machine meets easily; a 1 s heartbeat timeout.
  auto group = ProcessGroup::join(test::loopback_rank(0, 3, port), 20s, &stop0, 1s);
  const auto silent_from = std::chrono::steady_clock::now();
  all_in.set_value();
  silent.get();
  EXPECT_TRUE(eventually([&] { return stop0.load(); }, 20));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - silent_from).count();
  EXPECT_GE(seconds, 0.9) << "stopped before the 1 s timeout";
  ASSERT_TRUE(group->failure());
  EXPECT_EQ(*group->failure(), "rank 1 sent no heartbeat for 1 s (killed, or its machine is gone)");
  EXPECT_EQ(other.get(), *group->failure());
}

TEST(ProcessGroup, ARankThatNeverComesEndsTheRendezvous) {
  const int port = test::free_loopback_port();
  ASSERT_GT(port, 0);
  std::atomic<bool> stop{false};
  const auto start = std::chrono::steady_clock::now();
  SORAGEN_EXPECT_THROW_MESSAGE(ProcessGroup::join(test::loopback_rank(0, 2, port), 1s, &stop), RankFailedError,
                               "the job's 2 processes did not all join at 127.0.0.1:" + std::to_string(port) +
                                   " within 1 s (1 did)",
                               true);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 10);
}

TEST(ProcessGroup, NoStoreToReachIsAnError) {
  const int port = test::free_loopback_port();
  ASSERT_GT(port, 0);
  std::atomic<bool> stop{false};
  SORAGEN_EXPECT_THROW_MESSAGE(ProcessGroup::join(test::loopback_rank(1, 2, port), 1s, &stop), RankFailedError,
                               "rank 1 of 2 could not reach the job's store at 127.0.0.1:" + std::to_string(port), true);
}

// Tensor channels: every member's tensor, in member order, as each gave it;
// chunks swapped between members; a channel over some of the ranks.
TEST(ProcessGroup, TensorsGoBetweenRanksThroughGloo) {
  const int port = test::free_loopback_port();
  ASSERT_GT(port, 0);
  struct Received {
    std::vector<at::Tensor> gathered;
    at::Tensor swapped;
    std::vector<at::Tensor> pair;  // ranks 0 and 2 only
  };
  static constexpr int kRanks = 3;
  std::array<std::future<Received>, kRanks> ranks;
  for (int r = 0; r < kRanks; ++r) {
    ranks[r] = std::async(std::launch::async, [r, port] {
      std::atomic<bool> stop{false};
      auto group = ProcessGroup::join(test::loopback_rank(r, kRanks, port), 20s, &stop);
      Received received;
      const auto everyone = distributed::open_tensor_channel(*group, {0, 1, 2});
      EXPECT_EQ(everyone->rank(), r);
      EXPECT_EQ(everyone->size(), kRanks);
      const at::Tensor mine = at::arange(6, at::kFloat).reshape({2, 3}) + 10 * r;
      received.gathered = everyone->all_gather(mine.t());  // not contiguous
      // Chunk j of rank r holds 100 r + j.
      received.swapped = everyone->all_to_all(at::arange(kRanks, at::kLong).add(100 * r).view({kRanks, 1}));
      if (r != 1) {
        const auto pair = distributed::open_tensor_channel(*group, {0, 2});
        EXPECT_EQ(pair->rank(), r / 2);
        received.pair = pair->all_gather(at::full({1}, r, at::kBFloat16));
      }
      group->leave();
      return received;
    });
  }
  for (int r = 0; r < kRanks; ++r) {
    const Received received = ranks[r].get();
    ASSERT_EQ(received.gathered.size(), 3u);
    for (int from = 0; from < kRanks; ++from) {
      const at::Tensor expected = (at::arange(6, at::kFloat).reshape({2, 3}) + 10 * from).t();
      EXPECT_TRUE(at::equal(received.gathered[from], expected)) << "rank " << r << " from rank " << from;
      // Chunk `from` came from rank `from`: its chunk r.
      EXPECT_EQ(received.swapped[from].item<int64_t>(), 100 * from + r) << "rank " << r << " from rank " << from;
    }
    if (r == 1) continue;
    ASSERT_EQ(received.pair.size(), 2u);
    EXPECT_EQ(received.pair[1].scalar_type(), at::kBFloat16);
    EXPECT_EQ(received.pair[0].item<float>(), 0.0f);
    EXPECT_EQ(received.pair[1].item<float>(), 2.0f);
  }
}

// Between GPUs, a channel opened for CUDA devices carries CUDA tensors over
// NCCL in their own dtype; CPU tensors still go through Gloo. Needs a CUDA
// build with NCCL and two GPUs (one rank per GPU: NCCL refuses two ranks on
// one device); scripts/gpu_check.sh runs it on such a machine.
TEST(ProcessGroup, CudaTensorsGoBetweenGpusThroughNccl) {
  if (!distributed::nccl_available()) GTEST_SKIP() << "this build has no NCCL (PyTorch's CUDA libtorch has it)";
  if (!torch::cuda::is_available() || torch::cuda::device_count() < 2) GTEST_SKIP() << "needs two GPUs";
  const int port = test::free_loopback_port();
  ASSERT_GT(port, 0);
  static constexpr int kRanks = 2;
  std::array<std::future<std::pair<std::vector<at::Tensor>, at::Tensor>>, kRanks> ranks;
  for (int r = 0; r < kRanks; ++r) {
    ranks[r] = std::async(std::launch::async, [r, port] {
      std::atomic<bool> stop{false};
      auto group = ProcessGroup::join(test::loopback_rank(r, kRanks, port), 60s, &stop);
      const c10::Device gpu(c10::kCUDA, static_cast<c10::DeviceIndex>(r));
      const auto channel = distributed::open_tensor_channel(*group, {0, 1}, gpu);
      EXPECT_TRUE(channel->uses_nccl());
      const at::Tensor mine = (at::arange(6, at::kFloat).reshape({2, 3}) + 10 * r).to(gpu, at::kBFloat16);
      std::vector<at::Tensor> gathered = channel->all_gather(mine);
      at::Tensor swapped = channel->all_to_all(at::arange(kRanks, at::kLong).add(100 * r).view({kRanks, 1}).to(gpu));
      // A CPU tensor on the same channel: Gloo.
      const std::vector<at::Tensor> cpu = channel->all_gather(at::full({1}, r, at::kLong));
      EXPECT_EQ(cpu[1].item<int64_t>(), 1);
      group->leave();
      return std::make_pair(gathered, swapped);
    });
  }
  for (int r = 0; r < kRanks; ++r) {
    const auto [gathered, swapped] = ranks[r].get();
    ASSERT_EQ(gathered.size(), 2u);
    for (int from = 0; from < kRanks; ++from) {
      EXPECT_EQ(gathered[from].device(), c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(r)));
      EXPECT_EQ(gathered[from].scalar_type(), at::kBFloat16) << "NCCL keeps the dtype";
      EXPECT_TRUE(at::equal(gathered[from].cpu().to(at::kFloat), at::arange(6, at::kFloat).reshape({2, 3}) + 10 * from));
      EXPECT_EQ(swapped[from].item<int64_t>(), 100 * from + r);
    }
  }
}

// A build without NCCL (Debian's libtorch) opens a channel for a CUDA
// device as the Gloo channel, through which CPU tensors cross as ever (and
// CUDA ones through host memory).
TEST(ProcessGroup, AChannelForCudaWithoutNcclIsTheGlooChannel) {
  if (distributed::nccl_available()) GTEST_SKIP() << "this build has NCCL";
  const int port = test::free_loopback_port();
  ASSERT_GT(port, 0);
  std::atomic<bool> stop{false};
  auto group = ProcessGroup::join(test::loopback_rank(0, 1, port), 20s, &stop);
  const auto channel = distributed::open_tensor_channel(*group, {0}, c10::Device(c10::kCUDA, 0));
  EXPECT_FALSE(channel->uses_nccl());
  EXPECT_TRUE(at::equal(channel->all_gather(at::ones({2}))[0], at::ones({2})));
  group->leave();
}

TEST(ProcessGroup, AChannelHoldsThisRank) {
  const int port = test::free_loopback_port();
  ASSERT_GT(port, 0);
  std::atomic<bool> stop{false};
  auto group = ProcessGroup::join(test::loopback_rank(0, 1, port), 20s, &stop);
  SORAGEN_EXPECT_THROW_MESSAGE(distributed::open_tensor_channel(*group, {1}), InternalError,
                               "rank 0 of 1 opening a channel over ranks 1", true);
  const auto alone = distributed::open_tensor_channel(*group, {0});
  SORAGEN_EXPECT_THROW_MESSAGE(alone->all_to_all(at::ones({2, 3})), InternalError, "2 chunks for 1 members", true);
  group->leave();
}

}  // namespace
}  // namespace soragen
