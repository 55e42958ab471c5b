#include "dit/attention.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/torch_compat.h"
#include "soragen/error.h"

namespace soragen::dit {
namespace {

// q, k, v: [B, n, L, d]
at::Tensor math_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                          int64_t max_score_bytes);

}  // namespace

at::Tensor key_mask(const std::vector<int64_t>& key_lens, int64_t batch, int64_t keys, const at::Device& device) {
  if (key_lens.empty()) return {};
  if (static_cast<int64_t>(key_lens.size()) != batch) {
    throw InternalError("attention: " + std::to_string(key_lens.size()) + " key lengths for a batch of " +
                        std::to_string(batch));
  }
  bool all_full = true;
  for (int64_t len : key_lens) {
    // An empty key set would make softmax divide by zero (NaN rows).
    if (len < 1 || len > keys) {
      throw InternalError("attention: key length " + std::to_string(len) + " outside [1, " + std::to_string(keys) +
                          "]");
    }
    all_full = all_full && len == keys;
  }
  if (all_full) return {};
  const at::Tensor positions = at::arange(keys, at::TensorOptions().dtype(at::kLong).device(device));
  std::vector<at::Tensor> rows;
  for (int64_t len : key_lens) rows.push_back(positions.lt(len));
  return at::stack(rows).view({batch, 1, 1, keys});
}

namespace {

at::Tensor math_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                          int64_t max_score_bytes) {
  const int64_t batch = q.size(0), heads = q.size(1), queries = q.size(2), keys = k.size(2);
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(3)));
  // Scores are kept in float32 (float64 for float64 inputs) whatever q's dtype.
  const at::ScalarType score_type = q.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const int64_t row_bytes = 2 * batch * heads * keys * static_cast<int64_t>(at::elementSize(score_type));
  const int64_t chunk = std::clamp<int64_t>(max_score_bytes / std::max<int64_t>(row_bytes, 1), 1, queries);
  const at::Tensor kt = k.transpose(-2, -1);
  at::Tensor out = at::empty({batch, heads, queries, v.size(3)}, v.options());
  for (int64_t start = 0; start < queries; start += chunk) {
    const int64_t rows = std::min(chunk, queries - start);
    at::Tensor scores = at::matmul(q.narrow(2, start, rows), kt).to(score_type).mul_(scale);
    if (mask.defined() && mask.is_floating_point()) {
      scores.add_(mask);
    } else if (mask.defined()) {
      scores.masked_fill_(mask.logical_not(), -std::numeric_limits<double>::infinity());
    }
    // Softmax in place: exp(s - max) / sum, with no second score-sized
    // buffer (a fresh one costs its page faults on every chunk: 27 ms
    // against 10 ms for [2, 12, 768, 768] on 2 AVX2 cores). Training
    // (soragen-train) needs exp's output for its backward, so there the
    // same arithmetic runs out of place.
    if (scores.requires_grad()) {
      scores = (scores - scores.amax(-1, true)).exp();
      scores = scores / scores.sum(-1, true);
    } else {
      scores.sub_(scores.amax(-1, true)).exp_();
      scores.div_(scores.sum(-1, true));
    }
    const at::Tensor probs = scores.to(v.scalar_type());
    out.narrow(2, start, rows).copy_(at::matmul(probs, v));
  }
  return out;
}

}  // namespace

bool attention_uses_sdpa(AttentionBackend backend) {
  switch (backend) {
    case AttentionBackend::math: return false;
    case AttentionBackend::sdpa: return true;
    case AttentionBackend::automatic: return SORAGEN_TORCH_HAS_SDPA != 0;
  }
  return false;
}

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const std::vector<int64_t>& key_lens, const AttentionOptions& options) {
  return masked_attention(q, k, v, key_mask(key_lens, q.size(0), k.size(1), q.device()), options);
}

at::Tensor masked_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                            const AttentionOptions& options) {
  // [B, L, n, d] -> [B, n, L, d]
  const at::Tensor qh = q.transpose(1, 2);
  const at::Tensor kh = k.transpose(1, 2);
  const at::Tensor vh = v.transpose(1, 2);
  at::Tensor out;
  if (attention_uses_sdpa(options.backend)) {
#if SORAGEN_TORCH_HAS_SDPA
    // The default scale is 1/sqrt(d); the scale argument only exists from 2.1.
    // A float mask is added to the scores, and must be in q's dtype.
    const at::Tensor sdpa_mask = mask.defined() && mask.is_floating_point() ? mask.to(q.scalar_type()) : mask;
    out = at::scaled_dot_product_attention(qh, kh, vh,
                                           sdpa_mask.defined() ? c10::optional<at::Tensor>(sdpa_mask) : c10::nullopt);
#else
    throw UsageError("attention: the sdpa backend needs libtorch >= 2.0 (this build has " TORCH_VERSION ")");
#endif
  } else {
    out = math_attention(qh.contiguous(), kh.contiguous(), vh.contiguous(), mask, options.max_score_bytes);
  }
  return out.transpose(1, 2).to(q.scalar_type());
}

}  // namespace soragen::dit
