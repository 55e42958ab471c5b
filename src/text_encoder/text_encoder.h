// The text stage of the pipeline: token ids -> umT5 contexts for the DiT.
//
//   auto config  = text_encoder::UMT5Config::from_file("models/configs/umt5-xxl.json");
//   auto encoder = text_encoder::TextEncoder::open("models_t5_umt5-xxl-enc-bf16.pth", config,
//                                                  {c10::kCPU, at::kBFloat16, log});
//   std::vector<at::Tensor> contexts = encoder->encode(ids, mask);  // [L_i, 4096] each
//   encoder.reset();  // the encoder's weights are freed here; contexts stay valid
//
// The TextEncoder is the only owner of its weights: nothing it returns
// references them, so destroying it returns all of its memory.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "io/tensor_source.h"
#include "soragen/log.h"
#include "text_encoder/key_maps.h"
#include "text_encoder/umt5.h"
#include "text_encoder/umt5_config.h"

namespace soragen::text_encoder {

struct TextEncoderOptions {
  // Where the weights live and the encoder runs.
  c10::Device device = c10::kCPU;
  // Weights and activations (fp32, bf16, fp16); norms and softmax run in fp32
  // whatever this is, as in the reference.
  c10::ScalarType dtype = c10::kFloat;
  // Matrix products of bf16/fp16 weights in fp32 (see UMT5BuildOptions).
  // nullopt: on the CPU when it lacks a fast bf16 GEMM, never on CUDA.
  std::optional<bool> fp32_matmul;
  // Warnings (unexpected checkpoint tensors) go here.
  Logger log;
  // Checkpoint naming; detected from the tensor names when absent.
  std::optional<TextEncoderLayout> layout;
  // Unexpected tensors are an error, not a warning (io::LoadOptions).
  bool strict_weights = false;
};

class TextEncoder {
 public:
  // Builds the encoder `config` describes and loads `weights` (any layout of
  // key_maps.h: options.layout, else detected) into it. The config is cross-checked against the
  // weights first: a different layer count or width is one ModelError.
  TextEncoder(const UMT5Config& config, const io::TensorSource& weights, TextEncoderOptions options = {});

  // open_text_encoder_weights(path) + the constructor.
  static std::unique_ptr<TextEncoder> open(const std::filesystem::path& weights, const UMT5Config& config,
                                           TextEncoderOptions options = {});

  TextEncoder(const TextEncoder&) = delete;
  TextEncoder& operator=(const TextEncoder&) = delete;

  // ids: int64 [B, L] in [0, vocab); mask: [B, L], nonzero on real tokens
  // (EOS included), zero on padding. Returns T5Encoder(ids, mask): [B, L, dim]
  // on the encoder's device in its dtype, every position (padding included).
  at::Tensor hidden_states(const at::Tensor& ids, const at::Tensor& mask, UMT5Trace* trace = nullptr) const;

  // What T5EncoderModel.__call__ returns: per prompt, the hidden states of its
  // real tokens, [L_i, dim] with L_i = number of nonzero mask entries.
  std::vector<at::Tensor> encode(const at::Tensor& ids, const at::Tensor& mask) const;

  const UMT5Config& config() const { return config_; }
  const TextEncoderOptions& options() const { return options_; }
  TextEncoderLayout layout() const { return layout_; }
  // Whether the bf16/fp16 matrix products run widened to fp32.
  bool fp32_matmul() const { return fp32_matmul_; }
  // Moves the weights to `device`, where encode() then runs (--offload parks
  // the encoder in CPU memory between prompts). The fp32-matmul choice made
  // at construction stays: pass options.fp32_matmul for the device it will
  // run on.
  void to(const c10::Device& device);

  // For tests and tools; keep no copy of the holder, or the weights outlive
  // this object.
  const UMT5Encoder& module() const { return module_; }

 private:
  UMT5Config config_;
  TextEncoderOptions options_;
  TextEncoderLayout layout_ = TextEncoderLayout::wan;
  bool fp32_matmul_ = false;
  UMT5Encoder module_{nullptr};
};

// The text encoder's load entry, spelled as the DiT's and the VAE's: a source
// (from open_text_encoder_weights) in a known `layout` into an encoder of `config`.
std::unique_ptr<TextEncoder> load_text_encoder(const io::TensorSource& source, TextEncoderLayout layout,
                                               const UMT5Config& config, TextEncoderOptions options = {});

// Compares the checkpoint's tensor shapes and layer count (after `map`) with
// what `config` implies; throws one ModelError naming the first disagreement
// ("... has 24 blocks, config '...' says num_layers 3").
void check_config_against_weights(const UMT5Config& config, const io::TensorSource& weights, const io::KeyMap& map);

}  // namespace soragen::text_encoder
