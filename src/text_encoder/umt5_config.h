// The umT5 encoder's sizes, read from JSON (models/configs/umt5-xxl.json, or a
// golden file's __metadata__["config"]) and validated once, so the tiny test
// encoders and XXL go through the same code.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace soragen::text_encoder {

struct UMT5Config {
  int64_t vocab = 0;        // token embedding rows
  int64_t dim = 0;          // residual stream width
  int64_t dim_attn = 0;     // q/k/v width, split into num_heads heads
  int64_t dim_ffn = 0;      // gated-GELU hidden width
  int64_t num_heads = 0;
  int64_t num_layers = 0;
  int64_t num_buckets = 0;  // relative-position buckets, both directions together
  int64_t max_dist = 0;     // offsets at or beyond this share the last bucket
  double eps = 1e-6;        // T5LayerNorm epsilon
  int64_t text_len = 0;     // token count the tokenizer pads to
  // Where the numbers came from ("config 'models/configs/umt5-xxl.json'"),
  // the prefix of every error about them.
  std::string origin;

  int64_t head_dim() const { return dim_attn / num_heads; }

  // Required keys: vocab, dim, dim_attn, dim_ffn, num_heads, num_layers,
  // num_buckets, max_dist (or max_distance), text_len; eps defaults to 1e-6.
  // shared_pos and bidirectional, when present, must be false and true: umT5
  // gives every layer its own bidirectional position table. Other keys
  // (dropout, builder, ...) are inert at inference and ignored. Throws
  // ModelError "<origin>: <problem>" for a missing, mistyped or inconsistent value.
  static UMT5Config from_json(const nlohmann::json& json, const std::string& origin);
  // Reads and parses a JSON file; origin is "config '<path>'".
  static UMT5Config from_file(const std::filesystem::path& path);
};

}  // namespace soragen::text_encoder
