// Multi-head attention for the DiT: softmax(Q K^T / sqrt(d)) V with an
// optional per-sample key length (keys at or beyond it are masked).
//
// Two implementations: libtorch's fused scaled_dot_product_attention
// (libtorch >= 2.0, flash/efficient kernels on CUDA), and an exact math path
// (the only one on libtorch 1.13) that processes the queries in chunks so the
// score matrix stays within a memory budget, whatever the sequence length.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace soragen::dit {

enum class AttentionBackend {
  automatic,  // sdpa where libtorch has it, else math
  math,       // exact for float32 inputs; softmax in float32 (float64 for float64 inputs)
  sdpa,       // at::scaled_dot_product_attention; an error on libtorch 1.13
};

struct AttentionOptions {
  AttentionBackend backend = AttentionBackend::automatic;
  // Math path: queries are processed in chunks whose float32 scores (and
  // softmax) take at most about this many bytes. 1.3B at 480x832x81 (32760
  // tokens, 12 heads) gives 12*32760*4*2 bytes per query row -> ~170 rows.
  int64_t max_score_bytes = int64_t{256} << 20;
};

// [B, 1, 1, Lk] bool on `device`, true where a key may be attended, for
// key_lens of B values in [1, Lk]; undefined when key_lens is empty or every
// key is valid, so the fused kernels keep their unmasked (flash) path. Built
// on the device from host integers: no host-to-device copy, so a denoising
// loop can build it without a synchronisation.
at::Tensor key_mask(const std::vector<int64_t>& key_lens, int64_t batch, int64_t keys, const at::Device& device);

// q: [B, Lq, heads, d]; k, v: [B, Lk, heads, d]. key_lens empty (no mask) or
// B values in [1, Lk]. Returns [B, Lq, heads, d] in q's dtype.
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const std::vector<int64_t>& key_lens, const AttentionOptions& options = {});
// The same with a mask from key_mask() (undefined: every key is valid), or
// a float mask [B, 1, 1 or Lq, Lk] added to the scores (kept in float32 on
// the math path, in q's dtype for the fused kernel).
at::Tensor masked_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                     const AttentionOptions& options = {});

// Whether `backend` resolves to the fused kernel in this build.
bool attention_uses_sdpa(AttentionBackend backend);

}  // namespace soragen::dit
