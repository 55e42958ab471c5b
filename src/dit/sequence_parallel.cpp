#include "dit/sequence_parallel.h"

#include <ATen/ATen.h>

#include <vector>

#include "io/tensor_source.h"
#include "soragen/error.h"

namespace soragen::dit {
namespace {

void expect_chunks(const at::Tensor& result, const at::Tensor& sent, const char* what) {
  if (!result.sizes().equals(sent.sizes())) {
    throw InternalError(std::string("sequence parallel ") + what + ": sent " + io::format_shape(sent.sizes()) +
                        ", received " + io::format_shape(result.sizes()));
  }
}

}  // namespace

void check_sequence_parallel(int64_t num_heads, int64_t ranks) {
  if (ranks < 1 || num_heads % ranks != 0) {
    throw UsageError("Ulysses sequence parallelism over " + std::to_string(ranks) + " processes splits the " +
                     std::to_string(num_heads) + " attention heads evenly, which " + std::to_string(ranks) +
                     " does not: choose ulysses= a divisor of " + std::to_string(num_heads));
  }
}

int64_t tokens_per_rank(int64_t seq_len, int64_t ranks) { return (seq_len + ranks - 1) / ranks; }

at::Tensor own_tokens(const at::Tensor& x, const SequenceParallel& group) {
  const int64_t share = x.size(1) / group.ranks();
  return x.narrow(1, group.rank() * share, share);
}

at::Tensor tokens_to_heads(const at::Tensor& x, SequenceParallel& group) {
  const int64_t ranks = group.ranks();
  const int64_t batch = x.size(0), share = x.size(1), heads = x.size(2) / ranks, head_dim = x.size(3);
  // Chunk j: this rank's tokens of rank j's heads.
  const at::Tensor chunks = x.reshape({batch, share, ranks, heads, head_dim}).permute({2, 0, 1, 3, 4}).contiguous();
  const at::Tensor received = group.all_to_all(chunks);  // chunk i: rank i's tokens of this rank's heads
  expect_chunks(received, chunks, "all-to-all");
  return received.permute({1, 0, 2, 3, 4}).reshape({batch, ranks * share, heads, head_dim});
}

at::Tensor heads_to_tokens(const at::Tensor& x, SequenceParallel& group) {
  const int64_t ranks = group.ranks();
  const int64_t batch = x.size(0), share = x.size(1) / ranks, heads = x.size(2), head_dim = x.size(3);
  // Chunk j: rank j's tokens of this rank's heads.
  const at::Tensor chunks = x.reshape({batch, ranks, share, heads, head_dim}).permute({1, 0, 2, 3, 4}).contiguous();
  const at::Tensor received = group.all_to_all(chunks);  // chunk i: this rank's tokens of rank i's heads
  expect_chunks(received, chunks, "all-to-all");
  return received.permute({1, 2, 0, 3, 4}).reshape({batch, share, ranks * heads, head_dim});
}

at::Tensor gather_tokens(const at::Tensor& x, SequenceParallel& group) {
  const at::Tensor gathered = group.all_gather(x.contiguous());  // [U, B, s, ...]
  std::vector<int64_t> shape = x.sizes().vec();
  shape[1] *= group.ranks();
  return gathered.movedim(0, 1).reshape(shape);
}

at::Tensor sum_over_ranks(const at::Tensor& x, SequenceParallel& group) {
  return group.all_gather(x.contiguous()).sum(0);
}

}  // namespace soragen::dit
