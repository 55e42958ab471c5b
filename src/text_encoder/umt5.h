// The umT5 encoder as Wan2.1 builds it (wan/modules/t5.py, T5Encoder with
// shared_pos=False). Every submodule is registered under its checkpoint name,
// so named_parameters() yields exactly the official keys:
//
//   token_embedding.weight                    [vocab, dim]
//   blocks.N.norm1.weight                     [dim]
//   blocks.N.attn.{q,k,v}.weight              [dim_attn, dim]
//   blocks.N.attn.o.weight                    [dim, dim_attn]
//   blocks.N.norm2.weight                     [dim]
//   blocks.N.ffn.gate.0.weight                [dim_ffn, dim]   GELU(tanh) branch (HF wi_0)
//   blocks.N.ffn.fc1.weight                   [dim_ffn, dim]   linear branch (HF wi_1)
//   blocks.N.ffn.fc2.weight                   [dim, dim_ffn]   (HF wo)
//   blocks.N.pos_embedding.embedding.weight   [num_buckets, num_heads]
//   norm.weight                               [dim]
//
// Parameters are allocated uninitialised in the requested dtype and device:
// the loader overwrites them, and XXL in fp32 (23 GB) must never exist
// next to its bf16 copy.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/TensorOptions.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <vector>

#include "text_encoder/umt5_config.h"

namespace soragen::text_encoder {

// rel = key_pos - query_pos (any integer tensor) -> bucket index (int64).
// Bidirectional T5 bucketing: num_buckets/2 per direction (rel > 0 takes the
// upper half), offsets below num_buckets/4 exact, the rest logarithmic up to
// max_dist, computed in float32 as the reference does so the boundaries match.
at::Tensor relative_position_bucket(const at::Tensor& rel, const UMT5Config& config);

// How the modules are allocated and run.
struct UMT5BuildOptions {
  at::TensorOptions tensors;  // dtype and device of the weights
  // Run the matrix products of reduced-precision weights in fp32 (inputs
  // widened, result rounded back to the weights' dtype): what a bf16 GEMM
  // with fp32 accumulation computes, for CPUs where libtorch has no fast bf16
  // GEMM (see core::cpu_has_fast_bf16_matmul).
  bool fp32_matmul = false;
};


// Intermediate activations for the parity tests (the golden debug.* tensors).
struct UMT5Trace {
  at::Tensor embed;                  // [B, L, dim] token embedding
  at::Tensor block0_pos_bias;        // [heads, L, L] layer 0's position bias
  std::vector<at::Tensor> block_out; // [B, L, dim] after each block
};

// A weight table looked up by index (nn.Embedding without its extras).
class T5EmbeddingImpl : public torch::nn::Module {
 public:
  T5EmbeddingImpl(int64_t rows, int64_t cols, const UMT5BuildOptions& options);
  at::Tensor forward(const at::Tensor& indices);
  at::Tensor weight;
};
TORCH_MODULE(T5Embedding);

// nn.Linear(bias=False).
class T5LinearImpl : public torch::nn::Module {
 public:
  T5LinearImpl(int64_t in_features, int64_t out_features, const UMT5BuildOptions& options);
  at::Tensor forward(const at::Tensor& x);
  at::Tensor weight;

 private:
  bool fp32_matmul_;
};
TORCH_MODULE(T5Linear);

// RMS norm without mean subtraction; the variance is taken in fp32.
class T5LayerNormImpl : public torch::nn::Module {
 public:
  T5LayerNormImpl(int64_t dim, double eps, const UMT5BuildOptions& options);
  at::Tensor forward(const at::Tensor& x);
  at::Tensor weight;

 private:
  double eps_;
};
TORCH_MODULE(T5LayerNorm);

class T5AttentionImpl : public torch::nn::Module {
 public:
  T5AttentionImpl(const UMT5Config& config, const UMT5BuildOptions& options);
  // bias: position bias with masked keys set to the dtype's lowest value.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& bias);

  T5Linear q{nullptr}, k{nullptr}, v{nullptr}, o{nullptr};

 private:
  int64_t num_heads_;
  int64_t head_dim_;
  bool fp32_matmul_;
};
TORCH_MODULE(T5Attention);

class T5FeedForwardImpl : public torch::nn::Module {
 public:
  T5FeedForwardImpl(const UMT5Config& config, const UMT5BuildOptions& options);
  at::Tensor forward(const at::Tensor& x);

  // Index 0 is the Linear; the reference's GELU at index 1 has no weights.
  torch::nn::ModuleList gate{nullptr};
  T5Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(T5FeedForward);

// This layer's own [num_buckets, heads] table (umT5 does not share it).
class T5RelativeEmbeddingImpl : public torch::nn::Module {
 public:
  T5RelativeEmbeddingImpl(const UMT5Config& config, const UMT5BuildOptions& options);
  // buckets [L, L] -> bias [1, heads, L, L]
  at::Tensor forward(const at::Tensor& buckets);

  T5Embedding embedding{nullptr};
};
TORCH_MODULE(T5RelativeEmbedding);

class UMT5BlockImpl : public torch::nn::Module {
 public:
  UMT5BlockImpl(const UMT5Config& config, const UMT5BuildOptions& options);
  // key_masked: bool [B, 1, 1, L], true on padding keys; undefined = no mask.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& buckets, const at::Tensor& key_masked,
                     at::Tensor* pos_bias_out = nullptr);

  T5LayerNorm norm1{nullptr};
  T5Attention attn{nullptr};
  T5LayerNorm norm2{nullptr};
  T5FeedForward ffn{nullptr};
  T5RelativeEmbedding pos_embedding{nullptr};
};
TORCH_MODULE(UMT5Block);

class UMT5EncoderImpl : public torch::nn::Module {
 public:
  UMT5EncoderImpl(const UMT5Config& config, const UMT5BuildOptions& options);
  // ids: int64 [B, L]; mask: [B, L], nonzero on real tokens (undefined = all
  // real). Returns [B, L, dim] for every position, padding included. The
  // caller holds the inference guard and has validated the ids.
  at::Tensor forward(const at::Tensor& ids, const at::Tensor& mask, UMT5Trace* trace = nullptr);

  const UMT5Config& config() const { return config_; }

  T5Embedding token_embedding{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  T5LayerNorm norm{nullptr};

 private:
  UMT5Config config_;
};
TORCH_MODULE(UMT5Encoder);

}  // namespace soragen::text_encoder
