// Analytic FLOP count of one WanModel forward pass, for benchmarks
// (achieved FLOP/s = flops / seconds).
#pragma once

#include <cstdint>

#include "dit/config.h"

namespace soragen::dit {

// Two FLOPs per multiply-add of every matrix product. Element-wise work
// (norms, RoPE, softmax, modulation, activations) is left out: it is
// O(tokens * dim) against O(tokens * dim^2) and under 0.1% at real sizes.
struct DitFlops {
  int64_t patch_embedding = 0;
  int64_t time_embedding = 0;               // time MLP and time_projection
  int64_t text_embedding = 0;               // over the text rows
  int64_t self_attention_projections = 0;   // q, k, v, o
  int64_t self_attention_scores = 0;        // Q K^T and P V
  int64_t cross_attention_projections = 0;  // q, o over tokens; k, v over the text rows
  int64_t cross_attention_scores = 0;
  int64_t ffn = 0;
  int64_t head = 0;

  int64_t total() const;
};

// `batch` samples of `tokens` tokens each (seq_len; in the pipeline every
// sample has exactly seq_len tokens, e.g. 32760 for 81x480x832), with
// `text_rows` rows of text context: the reference's text_len when
// absent (or <= 0), or what soragen computes, dit::cross_attention_rows.
DitFlops dit_forward_flops(const DitConfig& config, int64_t tokens, int64_t batch = 1, int64_t text_rows = 0);

}  // namespace soragen::dit
