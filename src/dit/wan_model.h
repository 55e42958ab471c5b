// WanModel, the Wan2.1 text-to-video diffusion transformer (wan/modules/model.py).
//
//   dit::DitConfig config = dit::DitConfig::from_file("models/configs/wan2.1-t2v-1.3b.json");
//   auto weights = io::open_weights(dir / "diffusion_pytorch_model.safetensors");
//   dit::WanModel model = dit::load_wan_model(config, *weights, log, {at::kBFloat16});
//   c10::InferenceMode guard;
//   std::vector<at::Tensor> v = model->forward({latent}, t, {context}, seq_len);
//
// Submodules carry the official checkpoint names (blocks.N.self_attn.q,
// blocks.N.ffn.0, head.head, ...), so named_parameters() yields exactly the
// official keys; other layouts are renamed on load (dit/key_maps.h).
//
// Precision: the big matrices (attention, FFN, text/patch embedding, head) are
// stored in a chosen weight dtype and cast per layer to the compute dtype at
// run time (fp8 -> bf16, ...). The residual stream, modulation, time embedding,
// norms and the head run in float32 and RoPE in float64, as in the reference.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dit/attention.h"
#include "dit/config.h"
#include "dit/step_cache.h"
#include "dit/key_maps.h"
#include "dit/quantized_linear.h"
#include "dit/rope.h"
#include "dit/sequence_parallel.h"
#include "soragen/log.h"

namespace soragen::io {
class TensorSource;
}

namespace soragen::dit {

// Receives named intermediate activations (the golden file's debug.* names
// without the "debug.<case>." prefix: "time_e0", "block0.q_after_rope", ...).
using DebugHook = std::function<void(const std::string& name, const at::Tensor& value)>;

// Sinusoidal timestep embedding: [cos(t*w_k), sin(t*w_k)], w_k =
// 10000^(-k/half), k < half = dim/2, computed in float64 (trap 10).
// t: [B] any numeric dtype -> [B, dim] float32.
at::Tensor sinusoidal_embedding(int64_t dim, const at::Tensor& t);

// y = x W^T + b with W, b cast to `dtype` (and x too): the per-layer upcast
// of bf16/fp16-stored weights. A layer may keep quantized codes instead
// (dit/quantized_linear.h): then weight holds float8 or int8 codes and
// scale_weight, a buffer named as in the checkpoint, their scale.
class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in, int64_t out, at::ScalarType weight_dtype);
  at::Tensor forward(const at::Tensor& x, at::ScalarType dtype) const;

  // Replaces the weight by uninitialised codes of `code_dtype` and adds a
  // scale_weight buffer of `scale_shape`, for the loader to fill.
  void keep_quantized(at::ScalarType code_dtype, at::IntArrayRef scale_shape, QuantizedMatmul matmul);
  bool is_quantized() const { return scale_weight.defined(); }
  // Packs the codes for int8_mm, once they are loaded and whenever they
  // change (a LoRA's full-difference key); nothing for the other products.
  void pack();

  at::Tensor weight;  // [out, in]
  at::Tensor bias;    // [out]
  at::Tensor scale_weight;                // undefined unless quantized
  QuantizedMatmul matmul = QuantizedMatmul::upcast;
  c10::IValue int8_packed;                // int8_mm's copy of the codes, in its engine's layout
  std::vector<LowRankDelta> deltas;       // LoRAs on a quantized weight, applied per call
};
TORCH_MODULE(Linear);

// A parameter-free entry that keeps the official indices of nn.Sequential
// (ffn.1 is the GELU, time_projection.0 the SiLU); forward is never called.
class ActivationImpl : public torch::nn::Module {
 public:
  explicit ActivationImpl(std::string kind) : kind_(std::move(kind)) {}
  const std::string& kind() const { return kind_; }

 private:
  std::string kind_;
};
TORCH_MODULE(Activation);

// Root-mean-square norm with a learned scale, computed in float32 (the
// reference's WanRMSNorm); applied over the full width before the head split.
class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  // x: [..., dim] -> float32
  at::Tensor forward(const at::Tensor& x) const;

  at::Tensor weight;  // [dim] float32

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

// LayerNorm in float32 with weight and bias (norm3, cross_attn_norm).
class AffineLayerNormImpl : public torch::nn::Module {
 public:
  AffineLayerNormImpl(int64_t dim, double eps);
  at::Tensor forward(const at::Tensor& x) const;

  at::Tensor weight;  // [dim] float32
  at::Tensor bias;

 private:
  double eps_;
};
TORCH_MODULE(AffineLayerNorm);

// Conv3d with kernel = stride = patch_size, run as one matrix product over
// the non-overlapping patches.
class PatchEmbeddingImpl : public torch::nn::Module {
 public:
  PatchEmbeddingImpl(const DitConfig& config, at::ScalarType weight_dtype);
  // x: [in_dim, F, H, W] -> [F/pt * H/ph * W/pw, dim] tokens in (f, h, w) order
  at::Tensor forward(const at::Tensor& x, at::ScalarType dtype) const;

  at::Tensor weight;  // [dim, in_dim, pt, ph, pw]
  at::Tensor bias;    // [dim]

 private:
  std::array<int64_t, 3> patch_;
};
TORCH_MODULE(PatchEmbedding);

// Self- or cross-attention with RMS q/k norms over the full width (trap 8).
class WanAttentionImpl : public torch::nn::Module {
 public:
  WanAttentionImpl(const DitConfig& config, at::ScalarType weight_dtype);

  Linear q{nullptr}, k{nullptr}, v{nullptr}, o{nullptr};
  RMSNorm norm_q{nullptr};  // null without qk_norm
  RMSNorm norm_k{nullptr};
};
TORCH_MODULE(WanAttention);

class WanBlockImpl : public torch::nn::Module {
 public:
  WanBlockImpl(const DitConfig& config, at::ScalarType weight_dtype);

  // Registration order follows the checkpoint: modulation, self_attn, norm3,
  // cross_attn, ffn. norm1 and norm2 have no parameters.
  at::Tensor modulation;  // [1, 6, dim] float32
  WanAttention self_attn{nullptr};
  AffineLayerNorm norm3{nullptr};  // null without cross_attn_norm
  WanAttention cross_attn{nullptr};
  torch::nn::ModuleList ffn{nullptr};  // 0: Linear, 1: GELU(tanh), 2: Linear
};
TORCH_MODULE(WanBlock);

class HeadImpl : public torch::nn::Module {
 public:
  HeadImpl(const DitConfig& config, at::ScalarType weight_dtype);

  at::Tensor modulation;  // [1, 2, dim] float32: shift, scale
  Linear head{nullptr};   // dim -> prod(patch) * out_dim, features (pt, ph, pw, c)
};
TORCH_MODULE(Head);

struct DitRunOptions {
  // Linear layers, FFN activation and attention; float32 reproduces the
  // golden tensors, bf16 is the reference's GPU setting.
  at::ScalarType compute_dtype = at::kFloat;
  AttentionOptions attention;
  // Ulysses sequence parallelism (dit/sequence_parallel.h): set, every rank
  // of the group runs the same forward on 1/U of the tokens and returns the
  // whole output; debug hooks then see this rank's slice. Null: one process.
  std::shared_ptr<SequenceParallel> sequence_parallel;
};

class WanModelImpl : public torch::nn::Module {
 public:
  // Parameters are allocated uninitialised: fill them with load_wan_model or
  // io::load_state_dict. `weight_dtype` is the storage of the big matrices.
  explicit WanModelImpl(const DitConfig& config, at::ScalarType weight_dtype = at::kFloat);

  // x: B latents [in_dim, F, H, W] (sizes may differ); t: [B] timesteps, or
  // [B, seq_len] per token (Wan2.2 TI2V);
  // context: B text embeddings [L_b <= text_len, text_dim]; seq_len: the
  // padded token count, >= every sample's tokens. Returns B tensors
  // [out_dim, F, H, W] float32. Batching B samples equals B separate calls.
  // The blocks in `skip_blocks` pass their tokens through unchanged
  // (skip-layer guidance); each index must be below num_layers. With a
  // `cache` (dit/step_cache.h), the blocks it covers (every block, or those
  // after the first one run) may be replaced by its stored residual.
  std::vector<at::Tensor> forward(const std::vector<at::Tensor>& x, const at::Tensor& t,
                                  const std::vector<at::Tensor>& context, int64_t seq_len,
                                  const DebugHook& hook = nullptr, const std::vector<int>& skip_blocks = {},
                                  StepCache* cache = nullptr) const;

  const DitConfig& config() const { return config_; }
  const RopeTable& rope() const { return rope_; }
  // Builds of the per-token RoPE rotations so far (once per batch shape).
  int64_t rope_builds() const { return rope_cache_->builds(); }
  DitRunOptions& run_options() { return run_options_; }
  const DitRunOptions& run_options() const { return run_options_; }

  PatchEmbedding patch_embedding{nullptr};
  torch::nn::ModuleList text_embedding{nullptr};   // 0: Linear, 1: GELU(tanh), 2: Linear
  torch::nn::ModuleList time_embedding{nullptr};   // 0: Linear, 1: SiLU, 2: Linear (float32)
  torch::nn::ModuleList time_projection{nullptr};  // 0: SiLU, 1: Linear dim -> 6*dim (float32)
  torch::nn::ModuleList blocks{nullptr};
  Head head{nullptr};

 private:
  DitConfig config_;
  DitRunOptions run_options_;
  // Derived, not a checkpoint tensor: a plain member so module->to(dtype)
  // never rounds it (the reference keeps `freqs` out of its buffers too).
  RopeTable rope_;
  std::shared_ptr<RopeCache> rope_cache_ = std::make_shared<RopeCache>();
};
TORCH_MODULE(WanModel);

// The text rows each block's cross-attention attends for a batch whose
// contexts have these lengths: the longest one plus one row standing for all
// of its zero padding to text_len (the others' padding fills the same
// rows), at most text_len. Their keys and values are what the reference's
// text_len rows hold (see compact_context in wan_model.cpp).
int64_t cross_attention_rows(const DitConfig& config, const std::vector<int64_t>& context_lens);

struct DitLoadOptions {
  // Storage of the big matrices; float8 is decoded by the io layer on
  // libtorch < 2.1 and may be kept as float8 from 2.1 on.
  at::ScalarType weight_dtype = at::kFloat;
  // The blocks' float8 / int8 weights with a scale_weight (Comfy scaled fp8,
  // soragen-convert): decoded to weight_dtype, or kept as codes multiplied
  // with the device's own product, `quantized_matmul` (dit/quantized_linear.h):
  // scaled_mm for the fp8 codes that fit it, int8_mm for int8 codes, upcast
  // for the others.
  QuantizedWeights quantized = QuantizedWeights::decode;
  QuantizedMatmul quantized_matmul = QuantizedMatmul::upcast;
  // Checkpoint naming; detected from the tensor names when absent.
  std::optional<DitLayout> layout;
  // Unexpected tensors are an error, not a warning (io::LoadOptions).
  bool strict_weights = false;
};

// The DiT's load entry, spelled as the text encoder's and the VAE's: a
// source in a known `layout` into a model of `config`.
WanModel load_dit(const io::TensorSource& source, DitLayout layout, const DitConfig& config, const Logger& log,
                  const DitLoadOptions& options = {});

// Builds a WanModel for `config` and fills it strictly from `source` (after
// the layout's renames, options.layout or detected): the config is cross-checked against the weights
// first, and every missing or mis-shaped tensor is one ModelError. The model
// is on the CPU; move it with model->to(device).
WanModel load_wan_model(const DitConfig& config, const io::TensorSource& source, const Logger& log,
                        const DitLoadOptions& options = {});

// The DiT weights under `path`: a .safetensors file or shard index itself, or
// a directory holding diffusion_pytorch_model.safetensors.index.json or
// diffusion_pytorch_model.safetensors (official layout), also looked for in
// its transformer/ folder (diffusers layout). Throws ModelError naming what
// was looked for.
std::filesystem::path find_dit_weights(const std::filesystem::path& path);

}  // namespace soragen::dit
