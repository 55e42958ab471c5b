#include "dit/wan_model.h"

#include <ATen/ATen.h>
#include <c10/util/accumulate.h>
#include <torch/nn/modules/container/modulelist.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <string>

#include "core/torch_compat.h"
#include "io/scaled_fp8.h"
#include "io/state_dict.h"
#include "io/tensor_source.h"
#include "soragen/error.h"

namespace soragen::dit {
namespace {

// Checkpoint tensors are filled by the loader, so nothing is initialised here
// (random init of 14B parameters would cost minutes). requires_grad is off:
// this is an inference-only module.
at::Tensor uninitialised(at::IntArrayRef shape, at::ScalarType dtype) {
  return at::empty(shape, at::TensorOptions().dtype(dtype));
}

// Biases are tiny; a float8 weight dtype keeps them in bf16 instead.
at::ScalarType bias_dtype(at::ScalarType weight_dtype) {
  return at::elementSize(weight_dtype) < 2 ? at::kBFloat16 : weight_dtype;
}

// Entry `index` of a checkpoint Sequential (ffn, text_embedding, ...) that
// holds a Linear: the list is the one handle, named by its checkpoint key.
const LinearImpl& linear_at(const torch::nn::ModuleList& list, size_t index) { return list->at<LinearImpl>(index); }

// x * (1 + scale) + shift, float32 (the reference runs it under fp32 autocast).
at::Tensor modulate(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale) {
  return x * (1 + scale) + shift;
}

// x [B, L, ...] with zero rows appended up to `length` rows.
at::Tensor pad_tokens(const at::Tensor& x, int64_t length) {
  if (x.size(1) >= length) return x;
  std::vector<int64_t> shape = x.sizes().vec();
  shape[1] = length - x.size(1);
  return at::cat({x, at::zeros(shape, x.options())}, 1);
}

// Parameter-free LayerNorm (norm1, norm2, head.norm) in float32.
at::Tensor plain_layer_norm(const at::Tensor& x, double eps) {
  return at::layer_norm(x.to(at::kFloat), {x.size(-1)}, {}, {}, eps);
}

}  // namespace

at::Tensor sinusoidal_embedding(int64_t dim, const at::Tensor& t) {
  const int64_t half = dim / 2;
  const auto f64 = at::TensorOptions().dtype(at::kDouble).device(t.device());
  const at::Tensor freqs = at::pow(10000.0, at::arange(half, f64).div(static_cast<double>(half)).neg());
  const at::Tensor angles = at::outer(t.to(at::kDouble).flatten(), freqs);
  return at::cat({angles.cos(), angles.sin()}, 1).to(at::kFloat);
}

LinearImpl::LinearImpl(int64_t in, int64_t out, at::ScalarType weight_dtype) {
  weight = register_parameter("weight", uninitialised({out, in}, weight_dtype), false);
  bias = register_parameter("bias", uninitialised({out}, bias_dtype(weight_dtype)), false);
}

at::Tensor LinearImpl::forward(const at::Tensor& x, at::ScalarType dtype) const {
  if (is_quantized()) return quantized_linear(x, weight, scale_weight, bias, deltas, matmul, dtype, int8_packed);
  return at::linear(x.to(dtype), weight.to(dtype), bias.to(dtype));
}

void LinearImpl::keep_quantized(at::ScalarType code_dtype, at::IntArrayRef scale_shape, QuantizedMatmul how) {
  // Module has no re-registration: the entry is swapped in place.
  const auto options = weight.options();  // on the weight's device
  weight = at::empty(weight.sizes(), options.dtype(code_dtype));
  parameters_["weight"] = weight;
  scale_weight = register_buffer("scale_weight", at::empty(scale_shape, options.dtype(at::kFloat)));
  matmul = how;
}

void LinearImpl::pack() {
  if (matmul == QuantizedMatmul::int8_mm) int8_packed = pack_int8_weight(weight, scale_weight);
}

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", uninitialised({dim}, at::kFloat), false);
}

at::Tensor RMSNormImpl::forward(const at::Tensor& x) const {
  const at::Tensor xf = x.to(at::kFloat);
  // Rounded to x's dtype before the scale, as WanRMSNorm does (type_as).
  const at::Tensor normed = (xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps_)).to(x.scalar_type());
  return normed * weight;
}

AffineLayerNormImpl::AffineLayerNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", uninitialised({dim}, at::kFloat), false);
  bias = register_parameter("bias", uninitialised({dim}, at::kFloat), false);
}

at::Tensor AffineLayerNormImpl::forward(const at::Tensor& x) const {
  return at::layer_norm(x.to(at::kFloat), {x.size(-1)}, weight, bias, eps_);
}

PatchEmbeddingImpl::PatchEmbeddingImpl(const DitConfig& c, at::ScalarType weight_dtype) : patch_(c.patch_size) {
  weight = register_parameter(
      "weight", uninitialised({c.dim, c.in_dim, c.patch_size[0], c.patch_size[1], c.patch_size[2]}, weight_dtype),
      false);
  bias = register_parameter("bias", uninitialised({c.dim}, bias_dtype(weight_dtype)), false);
}

at::Tensor PatchEmbeddingImpl::forward(const at::Tensor& x, at::ScalarType dtype) const {
  // x: [C, F, H, W] -> patches [f*h*w, C*pt*ph*pw] in the conv weight's (C, pt, ph, pw) order
  const int64_t channels = x.size(0);
  const int64_t f = x.size(1) / patch_[0], h = x.size(2) / patch_[1], w = x.size(3) / patch_[2];
  const at::Tensor patches = x.reshape({channels, f, patch_[0], h, patch_[1], w, patch_[2]})
                                 .permute({1, 3, 5, 0, 2, 4, 6})
                                 .reshape({f * h * w, -1});
  return at::linear(patches.to(dtype), weight.reshape({weight.size(0), -1}).to(dtype), bias.to(dtype));
}

WanAttentionImpl::WanAttentionImpl(const DitConfig& c, at::ScalarType weight_dtype) {
  q = register_module("q", Linear(c.dim, c.dim, weight_dtype));
  k = register_module("k", Linear(c.dim, c.dim, weight_dtype));
  v = register_module("v", Linear(c.dim, c.dim, weight_dtype));
  o = register_module("o", Linear(c.dim, c.dim, weight_dtype));
  if (c.qk_norm) {
    norm_q = register_module("norm_q", RMSNorm(c.dim, c.eps));
    norm_k = register_module("norm_k", RMSNorm(c.dim, c.eps));
  }
}

WanBlockImpl::WanBlockImpl(const DitConfig& c, at::ScalarType weight_dtype) {
  modulation = register_parameter("modulation", uninitialised({1, 6, c.dim}, at::kFloat), false);
  self_attn = register_module("self_attn", WanAttention(c, weight_dtype));
  if (c.cross_attn_norm) norm3 = register_module("norm3", AffineLayerNorm(c.dim, c.eps));
  cross_attn = register_module("cross_attn", WanAttention(c, weight_dtype));
  ffn = register_module("ffn", torch::nn::ModuleList(Linear(c.dim, c.ffn_dim, weight_dtype), Activation("gelu_tanh"),
                                                     Linear(c.ffn_dim, c.dim, weight_dtype)));
}

HeadImpl::HeadImpl(const DitConfig& c, at::ScalarType weight_dtype) {
  head = register_module("head", Linear(c.dim, c.out_dim * c.patch_volume(), weight_dtype));
  modulation = register_parameter("modulation", uninitialised({1, 2, c.dim}, at::kFloat), false);
}

WanModelImpl::WanModelImpl(const DitConfig& config, at::ScalarType weight_dtype)
    : config_(config), rope_(config.head_dim(), config.rope_max_positions, config.rope_theta) {
  config_.validate("DiT config");
  const DitConfig& c = config_;
  patch_embedding = register_module("patch_embedding", PatchEmbedding(c, weight_dtype));
  text_embedding = register_module(
      "text_embedding", torch::nn::ModuleList(Linear(c.text_dim, c.dim, weight_dtype), Activation("gelu_tanh"),
                                              Linear(c.dim, c.dim, weight_dtype)));
  // The time MLP and projection stay float32 whatever the weights (the
  // reference runs them under fp32 autocast); they are small.
  time_embedding = register_module(
      "time_embedding", torch::nn::ModuleList(Linear(c.freq_dim, c.dim, at::kFloat), Activation("silu"),
                                              Linear(c.dim, c.dim, at::kFloat)));
  time_projection = register_module(
      "time_projection", torch::nn::ModuleList(Activation("silu"), Linear(c.dim, 6 * c.dim, at::kFloat)));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_layers; ++i) {
    blocks->push_back(WanBlock(c, weight_dtype));
  }
  head = register_module("head", Head(c, weight_dtype));
}

namespace {

struct BlockInputs {
  const at::Tensor& e0;                       // [B, 1 or L, 6, dim] float32
  const std::array<at::Tensor, 2>& rotations;  // RoPE, [B, L, 1, d/2] float64
  const at::Tensor& key_mask;                 // valid self-attention keys; undefined: all
  const at::Tensor& context;                  // [B, R <= text_len, dim] compute dtype (CompactContext)
  const at::Tensor& context_bias;             // [B, 1, 1, R] float32 added to cross-attention scores; undefined: none
  SequenceParallel* sequence_parallel;        // null: every token is on this rank
};

// [B, L, dim] -> [B, L, heads, head_dim]
at::Tensor split_heads(const at::Tensor& x, int64_t heads) {
  return x.view({x.size(0), x.size(1), heads, x.size(2) / heads});
}

at::Tensor project_normed(const Linear& linear, const RMSNorm& norm, const at::Tensor& x, at::ScalarType dtype) {
  at::Tensor y = linear->forward(x, dtype);
  return norm ? norm->forward(y) : y;
}

// The text context as the cross-attention needs it (trap 6). The reference
// zero-pads every prompt's L rows to text_len BEFORE the embedding, so all
// text_len - L padding rows embed to one vector and give one key and one
// value. Attending to n equal keys equals attending to one of them with its
// score raised by log(n): so each sample keeps its own rows plus the padding
// rows the batch's longest sample needs (at least one), R <= text_len in all,
// and the padding keys' scores get log(padding rows / rows kept). Exact in
// real arithmetic; it spares every block's cross-attention text_len - R rows
// of keys and values, most of them for a prompt of a few dozen tokens.
struct CompactContext {
  at::Tensor rows;                 // [B, R, text_dim], zero past each sample's L_b
  at::Tensor score_bias;           // [B, 1, 1, R] float32; undefined when R = text_len
  std::vector<int64_t> text_rows;  // L_b

  // [B, R, dim] embedded rows -> [B, text_len, dim], as the reference holds
  // them (for debug hooks).
  at::Tensor expand(const at::Tensor& embedded, int64_t text_len) const {
    std::vector<at::Tensor> samples;
    for (size_t b = 0; b < text_rows.size(); ++b) {
      const at::Tensor sample = embedded[static_cast<int64_t>(b)];
      const int64_t own = text_rows[b];
      if (own == text_len) {
        samples.push_back(sample.narrow(0, 0, own));
        continue;
      }
      const at::Tensor padding = sample.narrow(0, own, 1).expand({text_len - own, sample.size(1)});
      samples.push_back(at::cat({sample.narrow(0, 0, own), padding}));
    }
    return at::stack(samples);
  }
};

CompactContext compact_context(const std::vector<at::Tensor>& context, const DitConfig& c, at::ScalarType dtype,
                               const at::Device& device) {
  CompactContext out;
  for (size_t b = 0; b < context.size(); ++b) {
    const at::Tensor& ctx = context[b];
    if (ctx.dim() != 2 || ctx.size(1) != c.text_dim || ctx.size(0) > c.text_len) {
      throw InternalError("DiT: context " + std::to_string(b) + " has shape " + io::format_shape(ctx.sizes()) +
                          ", expected [L<=" + std::to_string(c.text_len) + "," + std::to_string(c.text_dim) + "]");
    }
    out.text_rows.push_back(ctx.size(0));
  }
  const int64_t kept = cross_attention_rows(c, out.text_rows);
  const int64_t batch = static_cast<int64_t>(context.size());
  out.rows = at::zeros({batch, kept, c.text_dim}, at::TensorOptions().dtype(dtype).device(device));
  for (int64_t b = 0; b < batch; ++b) out.rows[b].narrow(0, 0, context[b].size(0)).copy_(context[b]);
  if (kept == c.text_len) return out;  // every padding row is there: nothing to weigh
  // Built on the device from host scalars (no copy, no synchronisation).
  const at::Tensor positions = at::arange(kept, at::TensorOptions().dtype(at::kFloat).device(device));
  std::vector<at::Tensor> biases;
  for (const int64_t own : out.text_rows) {
    const double padding = static_cast<double>(c.text_len - own), here = static_cast<double>(kept - own);
    biases.push_back(positions.ge(static_cast<double>(own)).to(at::kFloat).mul_(std::log(padding / here)));
  }
  out.score_bias = at::stack(biases).view({batch, 1, 1, kept});
  return out;
}

at::Tensor run_block(const WanBlockImpl& block, const DitConfig& c, const DitRunOptions& run, at::Tensor x,
                     const BlockInputs& in, const DebugHook& hook, size_t index) {
  // x: [B, L, dim] float32 residual stream
  const at::ScalarType dtype = run.compute_dtype;
  // Names are made only when a hook listens: not per block and step.
  const auto emit = [&](const char* what, const at::Tensor& value) {
    if (hook) hook("block" + std::to_string(index) + "." + what, value);
  };
  // modulation [1, 6, dim] + e0 [B, T, 6, dim], then six [B, T, dim] (T: 1 or L).
  std::vector<at::Tensor> e = (block.modulation.unsqueeze(0) + in.e0).chunk(6, 2);
  for (at::Tensor& part : e) part = part.squeeze(2);

  // Self-attention, modulated and gated.
  const at::Tensor attn_in = modulate(plain_layer_norm(x, c.eps), e[0], e[1]);
  emit("self_attn.in", attn_in);
  const WanAttentionImpl& sa = *block.self_attn;
  const at::Tensor q = split_heads(project_normed(sa.q, sa.norm_q, attn_in, dtype), c.num_heads);
  const at::Tensor k = split_heads(project_normed(sa.k, sa.norm_k, attn_in, dtype), c.num_heads);
  const at::Tensor v = split_heads(sa.v->forward(attn_in, dtype), c.num_heads);
  emit("q_before_rope", q);
  emit("k_before_rope", k);
  const at::Tensor q_rot = apply_rope(q, in.rotations);
  const at::Tensor k_rot = apply_rope(k, in.rotations);
  emit("q_after_rope", q_rot);
  emit("k_after_rope", k_rot);
  at::Tensor attended;
  if (SequenceParallel* group = in.sequence_parallel) {
    // Every token of this rank's heads; the key mask covers the whole sequence.
    attended = heads_to_tokens(masked_attention(tokens_to_heads(q_rot.to(dtype), *group),
                                                tokens_to_heads(k_rot.to(dtype), *group),
                                                tokens_to_heads(v, *group), in.key_mask, run.attention),
                               *group);
  } else {
    attended = masked_attention(q_rot.to(dtype), k_rot.to(dtype), v, in.key_mask, run.attention);
  }
  const at::Tensor self_out = sa.o->forward(attended.flatten(2), dtype);
  emit("self_attn.out", self_out);
  x = x + self_out.to(at::kFloat) * e[2];

  // Cross-attention over all text_len context rows, neither modulated nor
  // gated, no key mask (trap 6); the padding rows come compacted (CompactContext).
  const at::Tensor cross_in = block.norm3 ? block.norm3->forward(x) : x;
  emit("norm3.out", cross_in);
  const WanAttentionImpl& ca = *block.cross_attn;
  const at::Tensor cq = split_heads(project_normed(ca.q, ca.norm_q, cross_in, dtype), c.num_heads);
  const at::Tensor ck = split_heads(project_normed(ca.k, ca.norm_k, in.context, dtype), c.num_heads);
  const at::Tensor cv = split_heads(ca.v->forward(in.context, dtype), c.num_heads);
  const at::Tensor cross_out =
      ca.o->forward(masked_attention(cq.to(dtype), ck.to(dtype), cv, in.context_bias, run.attention).flatten(2), dtype);
  emit("cross_attn.out", cross_out);
  x = x + cross_out.to(at::kFloat);

  // FFN, modulated and gated.
  const at::Tensor ffn_in = modulate(plain_layer_norm(x, c.eps), e[3], e[4]);
  const at::Tensor hidden = at::gelu(linear_at(block.ffn, 0).forward(ffn_in, dtype), "tanh");
  const at::Tensor ffn_out = linear_at(block.ffn, 2).forward(hidden, dtype);
  emit("ffn.out", ffn_out);
  x = x + ffn_out.to(at::kFloat) * e[5];
  emit("out", x);
  return x;
}

}  // namespace

int64_t cross_attention_rows(const DitConfig& config, const std::vector<int64_t>& context_lens) {
  int64_t rows = 0;
  for (const int64_t len : context_lens) rows = std::max(rows, std::min(len + 1, config.text_len));
  return rows;
}

std::vector<at::Tensor> WanModelImpl::forward(const std::vector<at::Tensor>& x, const at::Tensor& t,
                                              const std::vector<at::Tensor>& context, int64_t seq_len,
                                              const DebugHook& hook, const std::vector<int>& skip_blocks,
                                              StepCache* cache) const {
  const DitConfig& c = config_;
  for (const int skipped : skip_blocks) {
    if (skipped < 0 || static_cast<size_t>(skipped) >= blocks->size()) {
      throw InternalError("DiT: block " + std::to_string(skipped) + " to skip; the model has " +
                          std::to_string(blocks->size()));
    }
  }
  const at::ScalarType dtype = run_options_.compute_dtype;
  const int64_t batch = static_cast<int64_t>(x.size());
  const auto emit = [&](const char* name, const at::Tensor& value) {
    if (hook) hook(name, value);
  };
  // t is one timestep per sample ([B]) or, as Wan2.2 TI2V passes it, one per
  // token ([B, seq_len]), which gives every token its own modulation.
  const bool per_token = t.dim() == 2;
  if (batch == 0 || static_cast<int64_t>(context.size()) != batch ||
      (per_token ? (t.size(0) != batch || t.size(1) != seq_len) : (t.dim() != 1 || t.numel() != batch))) {
    throw InternalError("DiT: " + std::to_string(batch) + " latents, timesteps of shape " +
                        io::format_shape(t.sizes()) + " and " + std::to_string(context.size()) +
                        " contexts; expected one context per sample and timesteps [B] or [B, seq_len " +
                        std::to_string(seq_len) + "]");
  }
  const at::Device device = patch_embedding->weight.device();
  SequenceParallel* sequence = run_options_.sequence_parallel.get();
  if (sequence) check_sequence_parallel(c.num_heads, sequence->ranks());
  // Under sequence parallelism the sequence is padded to a multiple of U;
  // the extra tokens are masked as keys like the rest of the padding.
  const int64_t length = sequence ? sequence->ranks() * tokens_per_rank(seq_len, sequence->ranks()) : seq_len;

  // Patchify each latent and pad the batch with zero tokens to seq_len.
  std::vector<Grid> grids;
  std::vector<int64_t> token_counts;
  at::Tensor tokens = at::zeros({batch, length, c.dim}, at::TensorOptions().dtype(at::kFloat).device(device));
  for (int64_t b = 0; b < batch; ++b) {
    const at::Tensor& latent = x[b];
    if (latent.dim() != 4 || latent.size(0) != c.in_dim) {
      throw InternalError("DiT: latent " + std::to_string(b) + " has shape " + io::format_shape(latent.sizes()) +
                          ", expected [" + std::to_string(c.in_dim) + ",F,H,W]");
    }
    const int64_t count = token_count(c, latent.size(1), latent.size(2), latent.size(3));
    if (count > seq_len) {
      throw InternalError("DiT: latent " + std::to_string(b) + " has " + std::to_string(count) +
                          " tokens, more than seq_len " + std::to_string(seq_len));
    }
    grids.push_back({latent.size(1) / c.patch_size[0], latent.size(2) / c.patch_size[1],
                     latent.size(3) / c.patch_size[2]});
    token_counts.push_back(count);
    const at::Tensor embedded = patch_embedding->forward(latent.to(device), dtype);  // [count, dim]
    if (hook) hook("patch_embed." + std::to_string(b), embedded);
    tokens[b].narrow(0, 0, count).copy_(embedded);
  }

  // Time embedding and the six modulation vectors, float32: e [B, T, dim] and
  // e0 [B, T, 6, dim] with T = 1 (one timestep per sample, broadcast over the
  // tokens) or seq_len (trap 10 of Wan2.2: per token). The debug hooks see the
  // reference's shapes: [B, dim] and [B, 6, dim] for T = 1.
  const int64_t time_rows = per_token ? seq_len : 1;
  const at::Tensor sinusoid = sinusoidal_embedding(c.freq_dim, t.to(device));  // [B * T, freq_dim]
  if (hook) hook("time_sinusoid", per_token ? sinusoid.view({batch, seq_len, c.freq_dim}) : sinusoid);
  const at::Tensor e = linear_at(time_embedding, 2)
                           .forward(at::silu(linear_at(time_embedding, 0).forward(sinusoid, at::kFloat)), at::kFloat)
                           .view({batch, time_rows, c.dim});
  const at::Tensor e0 = linear_at(time_projection, 1).forward(at::silu(e), at::kFloat).view({batch, time_rows, 6, c.dim});
  if (hook) {
    hook("time_e", per_token ? e : e.squeeze(1));
    hook("time_e0", per_token ? e0 : e0.squeeze(1));
  }

  const CompactContext text = compact_context(context, c, dtype, device);
  const at::Tensor context_emb = linear_at(text_embedding, 2).forward(
      at::gelu(linear_at(text_embedding, 0).forward(text.rows, dtype), "tanh"), dtype);
  if (hook) hook("context_emb", text.expand(context_emb, c.text_len));

  std::array<at::Tensor, 2> rotations = rope_cache_->rotations(rope_, grids, length, device);
  // Keys past each sample's own tokens are padding (trap 7).
  const at::Tensor self_key_mask = key_mask(token_counts, batch, length, device);
  // Between the attention layers a rank holds its own slice of the tokens,
  // with their rotations and, per token, their modulation.
  at::Tensor own_e = e, own_e0 = e0;
  int64_t own_valid_tokens = seq_len;  // of this rank's tokens, those below seq_len
  if (sequence) {
    tokens = own_tokens(tokens, *sequence);
    rotations = {own_tokens(rotations[0], *sequence), own_tokens(rotations[1], *sequence)};
    if (per_token) {
      own_e = own_tokens(pad_tokens(e, length), *sequence);
      own_e0 = own_tokens(pad_tokens(e0, length), *sequence);
    }
    own_valid_tokens = std::clamp<int64_t>(seq_len - sequence->rank() * tokens.size(1), 0, tokens.size(1));
  }
  const BlockInputs inputs{own_e0, rotations, self_key_mask, context_emb, text.score_bias, sequence};
  const auto skipped = [&](size_t i) {
    return std::find(skip_blocks.begin(), skip_blocks.end(), static_cast<int>(i)) != skip_blocks.end();
  };
  const auto run_blocks_from = [&](size_t first) {
    for (size_t i = first; i < blocks->size(); ++i) {
      if (!skipped(i)) tokens = run_block(blocks->at<WanBlockImpl>(i), c, run_options_, tokens, inputs, hook, i);
    }
  };
  size_t first = 0;
  while (first < blocks->size() && skipped(first)) ++first;
  std::function<at::Tensor(const at::Tensor&)> over_ranks;
  if (sequence) over_ranks = [sequence](const at::Tensor& sums) { return sum_over_ranks(sums, *sequence); };
  if (cache && first < blocks->size() && cache->decides_after_first_block()) {
    const at::Tensor first_out = run_block(blocks->at<WanBlockImpl>(first), c, run_options_, tokens, inputs, hook, first);
    // The decision reads the residual of the tokens below seq_len, summed
    // over the ranks under sequence parallelism, so that all ranks agree.
    const at::Tensor first_residual = first_out - tokens;
    const at::Tensor decided_on = first_residual.narrow(1, 0, own_valid_tokens);
    if (cache->decide(decided_on, first_out, over_ranks)) {
      tokens = cache->reuse(first_out);
    } else {
      tokens = first_out;
      run_blocks_from(first + 1);
      cache->store(tokens - first_out, own_valid_tokens);
    }
  } else if (cache && first < blocks->size()) {
    // Decided before any block, from the whole sequence's e0 (the same on
    // every rank); each rank keeps the residual of its own tokens.
    if (cache->decide(e0, tokens, over_ranks)) {
      tokens = cache->reuse(tokens);
    } else {
      const at::Tensor before = tokens;
      run_blocks_from(0);
      cache->store(tokens - before, own_valid_tokens);
    }
  } else {
    run_blocks_from(0);
  }

  // Head: its own modulation with e (not e0), computed in float32.
  // modulation [1, 2, dim] + e [B, T, 1, dim], then shift and scale [B, T, dim].
  std::vector<at::Tensor> shift_scale = (head->modulation.unsqueeze(0) + own_e.unsqueeze(2)).chunk(2, 2);
  for (at::Tensor& part : shift_scale) part = part.squeeze(2);
  at::Tensor out =
      head->head->forward(modulate(plain_layer_norm(tokens, c.eps), shift_scale[0], shift_scale[1]), at::kFloat);
  // Every rank returns the whole prediction.
  if (sequence) out = gather_tokens(out, *sequence).narrow(1, 0, seq_len);
  emit("head.out", out);

  // Unpatchify (trap 13): features are (pt, ph, pw, c) with c fastest.
  std::vector<at::Tensor> result;
  const auto& p = c.patch_size;
  for (int64_t b = 0; b < batch; ++b) {
    const Grid& g = grids[b];
    const at::Tensor u = out[b].narrow(0, 0, token_counts[b]).reshape({g[0], g[1], g[2], p[0], p[1], p[2], c.out_dim});
    result.push_back(u.permute({6, 0, 3, 1, 4, 2, 5}).reshape({c.out_dim, g[0] * p[0], g[1] * p[1], g[2] * p[2]}));
  }
  return result;
}

namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The dtype the io layer reads F8_E4M3 as: float32 before libtorch 2.1.
at::ScalarType io_float8_dtype() {
#if SORAGEN_TORCH_HAS_FLOAT8
  return at::kFloat8_e4m3fn;
#else
  return at::kFloat;
#endif
}

// Checks `source` against `config` and builds the model, filled from it
// unless `fill` is false.
WanModel build_dit(const io::TensorSource& source, DitLayout layout, const DitConfig& config, const Logger& log,
                   const DitLoadOptions& options, bool fill) {
  const io::KeyMap& key_map = dit_key_map(layout);
  for (const auto& [name, info] : source.infos()) {
    const std::optional<std::string> internal = key_map.apply(name);
    // Wan2.1 I2V/FLF2V (in_dim 36, as Wan2.2 I2V-A14B) feeds a CLIP image
    // embedding through img_emb and k_img/v_img; run as Wan2.2's i2v without
    // them, it would make a video, wrongly. (Under a t2v config the in_dim
    // check refuses it, and stray img_emb tensors are only "unexpected".)
    if (config.model_type == "i2v" && internal && internal->rfind("img_emb.", 0) == 0) {
      throw ModelError(source.error_prefix() + "tensor '" + name +
                       "' belongs to a Wan2.1 image-to-video DiT (CLIP image branch), which soragen does not run; "
                       "Wan2.2 I2V-A14B and TI2V-5B take images without it");
    }
  }
  check_config_against_weights(config, source, key_map);
  log.debug(source.error_prefix() + "DiT layout " + layout_name(layout));
  WanModel model(config, options.weight_dtype);
  if (fill) {
    io::LoadOptions load;
    load.key_map = &key_map;  // dtype unset: each parameter keeps the dtype chosen above
    load.unexpected_is_error = options.strict_weights;
    io::load_state_dict(*model, source, log, load);
  }
  return model;
}

WanModel load_quantized(WanModel model, const io::TensorSource& source, const io::KeyMap& key_map, const Logger& log,
                        const DitLoadOptions& options) {
  std::map<std::string, LinearImpl*> linears;
  for (const auto& item : model->named_modules("", false)) {
    if (auto* linear = dynamic_cast<LinearImpl*>(item.value().get())) linears.emplace(item.key(), linear);
  }
  // A block's Linear weight stored as codes with a scale, under names that
  // the layout maps onto the module's weight and scale_weight, is kept; the
  // embeddings and head (a few percent of the weights) are decoded.
  std::set<std::string> kept;
  int64_t scaled_mm_layers = 0, int8_mm_layers = 0;
  for (const auto& [name, info] : source.infos()) {
    const at::ScalarType codes = info.dtype == "I8" ? at::kChar : info.dtype == "F8_E4M3" ? io_float8_dtype() : at::kFloat;
    if (!is_quantized_weight(codes) || info.shape.size() != 2 || !ends_with(name, ".weight")) continue;
    const std::string scale = name.substr(0, name.size() - 7) + ".scale_weight";
    const std::optional<std::string> internal = key_map.apply(name);
    if (!source.contains(scale) || !internal || internal->rfind("blocks.", 0) != 0) continue;
    const std::string module = internal->substr(0, internal->size() - 7);
    const auto linear = linears.find(module);
    if (linear == linears.end() || key_map.apply(scale) != module + ".scale_weight") continue;
    const std::vector<int64_t>& scale_shape = source.info(scale).shape;
    const int64_t scales = c10::multiply_integers(scale_shape);
    if (scales != 1 && scales != info.shape[0]) {
      throw ModelError(source.error_prefix() + "tensor '" + scale + "' has shape " + io::format_shape(scale_shape) +
                       ", which does not scale '" + name + "' " + io::format_shape(info.shape));
    }
    QuantizedMatmul matmul = QuantizedMatmul::upcast;
    if (options.quantized_matmul == QuantizedMatmul::scaled_mm &&
        scaled_mm_misfit(codes, info.shape, scale_shape).empty()) {
      matmul = QuantizedMatmul::scaled_mm;
      ++scaled_mm_layers;
    } else if (options.quantized_matmul == QuantizedMatmul::int8_mm && codes == at::kChar) {
      matmul = QuantizedMatmul::int8_mm;
      ++int8_mm_layers;
    }
    linear->second->keep_quantized(codes, scale_shape, matmul);
    kept.insert(name);
  }
  const int64_t upcast_layers = static_cast<int64_t>(kept.size()) - scaled_mm_layers - int8_mm_layers;
  std::string how;
  if (scaled_mm_layers) how += std::to_string(scaled_mm_layers) + " multiplied in fp8, ";
  if (int8_mm_layers) how += std::to_string(int8_mm_layers) + " multiplied in int8, ";
  log.info(source.error_prefix() + std::to_string(kept.size()) + " quantized block weights kept as stored (" + how +
           std::to_string(upcast_layers) + " decoded per call), the rest decoded");
  const auto view = io::scaled_fp8_view(source, kept);
  io::LoadOptions load;
  load.key_map = &key_map;
  load.unexpected_is_error = options.strict_weights;
  io::load_state_dict(*model, *view, log, load);
  for (const auto& [module, linear] : linears) linear->pack();
  return model;
}

}  // namespace

WanModel load_wan_model(const DitConfig& config, const io::TensorSource& source, const Logger& log,
                        const DitLoadOptions& options) {
  return load_dit(source, options.layout ? *options.layout : detect_dit_layout(source), config, log, options);
}

WanModel load_dit(const io::TensorSource& source, DitLayout layout, const DitConfig& config, const Logger& log,
                  const DitLoadOptions& options) {
  // Comfy's scaled fp8 files: each weight is read as weight * scale_weight
  // (float32) and stored in the weight dtype, as any other checkpoint, or
  // kept as codes (options.quantized).
  if (io::is_scaled_fp8(source)) {
    if (options.quantized == QuantizedWeights::keep) {
      // The config checks and the model see the decoded view; then the
      // layers that keep codes swap their weights before anything is read.
      const auto view = io::scaled_fp8_view(source);
      WanModel model = build_dit(*view, layout, config, log, options, /*fill=*/false);
      return load_quantized(model, source, dit_key_map(layout), log, options);
    }
    log.debug(source.error_prefix() + "scaled fp8: weights dequantized with their scale_weight");
    return load_dit(*io::scaled_fp8_view(source), layout, config, log, options);
  }
  return build_dit(source, layout, config, log, options, /*fill=*/true);
}

std::filesystem::path find_dit_weights(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) {
    if (std::filesystem::is_regular_file(path, ec)) return path;
    throw ModelError("DiT weights '" + path.string() + "': no such file or directory");
  }
  // Sharded checkpoints (14B) come with an index; 1.3B is one file.
  for (const std::filesystem::path& dir : {path, path / "transformer"}) {
    for (const char* name : {"diffusion_pytorch_model.safetensors.index.json", "diffusion_pytorch_model.safetensors"}) {
      if (std::filesystem::is_regular_file(dir / name, ec)) return dir / name;
    }
  }
  throw ModelError("DiT weights '" + path.string() +
                   "': no diffusion_pytorch_model.safetensors(.index.json) in it or in its transformer/ folder");
}

}  // namespace soragen::dit
