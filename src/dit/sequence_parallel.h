// Ulysses sequence parallelism (DeepSpeed-Ulysses; the official Wan code's
// --ulysses_size): U ranks each hold 1/U of a sample's tokens between the
// attention layers. Self-attention trades tokens for heads with one
// all-to-all before it and one after, so that each rank attends over every
// token for H/U of the heads; everything else in a block is per token and
// runs on the rank's own slice. The head's output is gathered at the end, so
// every rank returns the whole prediction.
//
// The DiT knows only this interface; src/distributed/ implements it over a
// c10d Gloo process group.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace soragen::dit {

class SequenceParallel {
 public:
  virtual ~SequenceParallel() = default;
  virtual int64_t ranks() const = 0;  // U
  virtual int64_t rank() const = 0;   // this rank's slice, 0 <= rank < U

  // chunks [U, ...]: chunk j goes to rank j; returns [U, ...] whose chunk i
  // came from rank i. Collective.
  virtual at::Tensor all_to_all(const at::Tensor& chunks) = 0;
  // Every rank's `mine` (one shape on all), stacked in rank order: [U, ...].
  // Collective.
  virtual at::Tensor all_gather(const at::Tensor& mine) = 0;
};

// The checks before a forward: U divides the heads. Throws UsageError naming
// both counts.
void check_sequence_parallel(int64_t num_heads, int64_t ranks);

// Tokens per rank for a sequence of `seq_len` tokens: seq_len rounded up to
// a multiple of U (the extra tokens are padding, masked as keys), over U.
int64_t tokens_per_rank(int64_t seq_len, int64_t ranks);

// x [B, S, ...] with S = U * tokens_per_rank: this rank's [B, S/U, ...].
at::Tensor own_tokens(const at::Tensor& x, const SequenceParallel& group);

// Before self-attention: this rank's tokens of all heads [B, s, H, D] ->
// every token of this rank's heads [B, U*s, H/U, D].
at::Tensor tokens_to_heads(const at::Tensor& x, SequenceParallel& group);
// After it: [B, U*s, H/U, D] -> [B, s, H, D].
at::Tensor heads_to_tokens(const at::Tensor& x, SequenceParallel& group);
// Every rank's tokens [B, s, ...] -> [B, U*s, ...] in rank order.
at::Tensor gather_tokens(const at::Tensor& x, SequenceParallel& group);

// The sum over the ranks of each element of `x` (small tensors: the step
// cache's decision).
at::Tensor sum_over_ranks(const at::Tensor& x, SequenceParallel& group);

}  // namespace soragen::dit
