#include "text_encoder/umt5.h"

#include <ATen/ATen.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <cmath>
#include <limits>
#include <string>

namespace soragen::text_encoder {
namespace {

// torch.finfo(dtype).min: the reference's masked_fill value for padded keys.
// Not -inf, so a row whose keys are all padding still averages evenly.
double lowest(at::ScalarType dtype) {
  switch (dtype) {
    case at::kHalf: return static_cast<double>(std::numeric_limits<c10::Half>::lowest());
    case at::kBFloat16: return static_cast<double>(std::numeric_limits<c10::BFloat16>::lowest());
    case at::kDouble: return std::numeric_limits<double>::lowest();
    default: return std::numeric_limits<float>::lowest();
  }
}

// The reference's fp16_clamp: fp16 residual streams can overflow in the FFN;
// only then are they pulled back inside the finite range.
at::Tensor clamp_fp16(const at::Tensor& x) {
  if (x.scalar_type() != at::kHalf || !x.isinf().any().item<bool>()) return x;
  const double limit = static_cast<double>(std::numeric_limits<c10::Half>::max()) - 1000.0;
  return x.clamp(-limit, limit);
}

at::Tensor new_weight(at::IntArrayRef shape, const UMT5BuildOptions& options) {
  return at::empty(shape, options.tensors.requires_grad(false));
}

bool widen_matmul(const UMT5BuildOptions& options) {
  const at::ScalarType dtype = c10::typeMetaToScalarType(options.tensors.dtype());
  return options.fp32_matmul && (dtype == at::kBFloat16 || dtype == at::kHalf);
}

// a @ b, widened to fp32 and rounded back when `widen` (see UMT5BuildOptions).
at::Tensor product(const at::Tensor& a, const at::Tensor& b, bool widen) {
  if (!widen) return at::matmul(a, b);
  return at::matmul(a.to(at::kFloat), b.to(at::kFloat)).to(a.scalar_type());
}

}  // namespace

at::Tensor relative_position_bucket(const at::Tensor& rel_in, const UMT5Config& config) {
  const int64_t per_direction = config.num_buckets / 2;
  const int64_t max_exact = per_direction / 2;
  const at::Tensor rel = rel_in.to(at::kLong);
  const at::Tensor direction = rel.gt(0).to(at::kLong) * per_direction;
  const at::Tensor dist = rel.abs();
  // The float32 steps (divide, log, divide by a double-precision log, scale,
  // truncate) follow the reference one by one: that is what places the
  // bucket boundaries. Distance 0 would give log(0); it takes the exact
  // branch anyway, so it is clamped only to keep the integer cast defined.
  const at::Tensor ratio = dist.clamp_min(1).to(at::kFloat) / max_exact;
  const double log_range = std::log(static_cast<double>(config.max_dist) / static_cast<double>(max_exact));
  const at::Tensor scaled = at::log(ratio) / log_range * (per_direction - max_exact);
  const at::Tensor large = (scaled.to(at::kLong) + max_exact).clamp_max(per_direction - 1);
  return direction + at::where(dist.lt(max_exact), dist, large);
}

T5EmbeddingImpl::T5EmbeddingImpl(int64_t rows, int64_t cols, const UMT5BuildOptions& options) {
  weight = register_parameter("weight", new_weight({rows, cols}, options), /*requires_grad=*/false);
}

at::Tensor T5EmbeddingImpl::forward(const at::Tensor& indices) { return at::embedding(weight, indices); }

T5LinearImpl::T5LinearImpl(int64_t in_features, int64_t out_features, const UMT5BuildOptions& options)
    : fp32_matmul_(widen_matmul(options)) {
  weight = register_parameter("weight", new_weight({out_features, in_features}, options), /*requires_grad=*/false);
}

at::Tensor T5LinearImpl::forward(const at::Tensor& x) {
  if (!fp32_matmul_) return at::linear(x, weight);
  return at::linear(x.to(at::kFloat), weight.to(at::kFloat)).to(x.scalar_type());
}

T5LayerNormImpl::T5LayerNormImpl(int64_t dim, double eps, const UMT5BuildOptions& options) : eps_(eps) {
  weight = register_parameter("weight", new_weight({dim}, options), /*requires_grad=*/false);
}

at::Tensor T5LayerNormImpl::forward(const at::Tensor& x) {
  // x: [..., dim] -> same shape, in the weight's dtype
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor normed = xf * at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps_);
  return weight * normed.to(weight.scalar_type());
}

T5AttentionImpl::T5AttentionImpl(const UMT5Config& config, const UMT5BuildOptions& options)
    : num_heads_(config.num_heads), head_dim_(config.head_dim()), fp32_matmul_(widen_matmul(options)) {
  q = register_module("q", T5Linear(config.dim, config.dim_attn, options));
  k = register_module("k", T5Linear(config.dim, config.dim_attn, options));
  v = register_module("v", T5Linear(config.dim, config.dim_attn, options));
  o = register_module("o", T5Linear(config.dim_attn, config.dim, options));
}

at::Tensor T5AttentionImpl::forward(const at::Tensor& x, const at::Tensor& bias) {
  // x: [B, L, dim], bias: [B or 1, heads, L, L] -> [B, L, dim]
  const int64_t b = x.size(0);
  const int64_t l = x.size(1);
  const auto split_heads = [&](const at::Tensor& t) { return t.view({b, l, num_heads_, head_dim_}).transpose(1, 2); };
  const at::Tensor qh = split_heads(q(x));
  const at::Tensor kh = split_heads(k(x));
  const at::Tensor vh = split_heads(v(x));
  // T5 folds the 1/sqrt(head_dim) into its initialisation: logits are unscaled.
  const at::Tensor logits = product(qh, kh.transpose(-2, -1), fp32_matmul_) + bias;
  const at::Tensor probs = at::softmax(logits, -1, at::kFloat).to(x.scalar_type());
  const at::Tensor out = product(probs, vh, fp32_matmul_).transpose(1, 2).reshape({b, l, num_heads_ * head_dim_});
  return o(out);
}

T5FeedForwardImpl::T5FeedForwardImpl(const UMT5Config& config, const UMT5BuildOptions& options) {
  gate = register_module("gate", torch::nn::ModuleList(T5Linear(config.dim, config.dim_ffn, options)));
  fc1 = register_module("fc1", T5Linear(config.dim, config.dim_ffn, options));
  fc2 = register_module("fc2", T5Linear(config.dim_ffn, config.dim, options));
}

at::Tensor T5FeedForwardImpl::forward(const at::Tensor& x) {
  // x: [B, L, dim] -> [B, L, dim]; the GELU is the tanh approximation
  return fc2(fc1(x) * at::gelu(gate->at<T5LinearImpl>(0).forward(x), "tanh"));
}

T5RelativeEmbeddingImpl::T5RelativeEmbeddingImpl(const UMT5Config& config, const UMT5BuildOptions& options) {
  embedding = register_module("embedding", T5Embedding(config.num_buckets, config.num_heads, options));
}

at::Tensor T5RelativeEmbeddingImpl::forward(const at::Tensor& buckets) {
  // buckets: [Lq, Lk] -> [1, heads, Lq, Lk]
  return embedding(buckets).permute({2, 0, 1}).unsqueeze(0).contiguous();
}

UMT5BlockImpl::UMT5BlockImpl(const UMT5Config& config, const UMT5BuildOptions& options) {
  norm1 = register_module("norm1", T5LayerNorm(config.dim, config.eps, options));
  attn = register_module("attn", T5Attention(config, options));
  norm2 = register_module("norm2", T5LayerNorm(config.dim, config.eps, options));
  ffn = register_module("ffn", T5FeedForward(config, options));
  pos_embedding = register_module("pos_embedding", T5RelativeEmbedding(config, options));
}

at::Tensor UMT5BlockImpl::forward(const at::Tensor& x, const at::Tensor& buckets, const at::Tensor& key_masked,
                                  at::Tensor* pos_bias_out) {
  // x: [B, L, dim] -> [B, L, dim]
  const at::Tensor h = norm1(x);
  const at::Tensor pos_bias = pos_embedding(buckets);
  if (pos_bias_out) *pos_bias_out = pos_bias.squeeze(0);
  // Padded keys get the lowest finite value (not -inf), in the activations'
  // dtype; padded queries are still computed, as in the reference.
  const at::Tensor bias =
      key_masked.defined() ? pos_bias.masked_fill(key_masked, lowest(h.scalar_type())) : pos_bias;
  at::Tensor out = clamp_fp16(x + attn(h, bias));
  return clamp_fp16(out + ffn(norm2(out)));
}

UMT5EncoderImpl::UMT5EncoderImpl(const UMT5Config& config, const UMT5BuildOptions& options) : config_(config) {
  token_embedding = register_module("token_embedding", T5Embedding(config.vocab, config.dim, options));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.num_layers; ++i) blocks->push_back(UMT5Block(config, options));
  norm = register_module("norm", T5LayerNorm(config.dim, config.eps, options));
}

at::Tensor UMT5EncoderImpl::forward(const at::Tensor& ids, const at::Tensor& mask, UMT5Trace* trace) {
  // ids, mask: [B, L] -> [B, L, dim]
  const int64_t b = ids.size(0);
  const int64_t l = ids.size(1);
  // One bucket table for all layers; each layer looks it up in its own table.
  const at::Tensor pos = at::arange(l, ids.options().dtype(at::kLong));
  const at::Tensor buckets = relative_position_bucket(pos.unsqueeze(0) - pos.unsqueeze(1), config_);
  at::Tensor key_masked;
  if (mask.defined()) key_masked = mask.eq(0).view({b, 1, 1, l});

  at::Tensor x = token_embedding(ids);
  if (trace) {
    trace->embed = x;
    trace->block_out.clear();
  }
  for (size_t i = 0; i < blocks->size(); ++i) {
    at::Tensor* pos_bias_out = (trace && i == 0) ? &trace->block0_pos_bias : nullptr;
    x = blocks->at<UMT5BlockImpl>(i).forward(x, buckets, key_masked, pos_bias_out);
    if (trace) trace->block_out.push_back(x);
  }
  return norm(x);
}

}  // namespace soragen::text_encoder
