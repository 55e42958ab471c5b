// 3D rotary position embedding of WanModel. The head dimension is read as
// head_dim/2 complex numbers made of interleaved pairs (x[2j], x[2j+1]), split
// into three parts rotated by the token's frame, row and column index
// (golden README trap 9). Angles and rotation are float64 as in the reference.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <mutex>
#include <vector>

namespace soragen::dit {

// Complex pairs per axis for a head dimension: the frame part takes what the
// two equal spatial parts leave, c - 2*(c/3) with c = head_dim/2
// (head_dim 128 -> 22/21/21).
struct RopeSplit {
  int64_t frame;
  int64_t height;
  int64_t width;
};
RopeSplit rope_split(int64_t head_dim);

// A latent's token grid after patchify: (frames, rows, columns).
using Grid = std::array<int64_t, 3>;

class RopeTable {
 public:
  RopeTable() = default;
  // Each part j has frequencies 1/theta^(2k/D_j), k < pairs_j, D_j = 2*pairs_j;
  // rows are positions 0..max_positions-1.
  RopeTable(int64_t head_dim, int64_t max_positions, double theta);

  int64_t head_dim() const { return head_dim_; }
  int64_t max_positions() const { return max_positions_; }
  // [max_positions, head_dim/2] float64, the reference's `freqs` as cos/sin.
  const at::Tensor& cos() const { return cos_; }
  const at::Tensor& sin() const { return sin_; }

  // Per-token rotations for a padded batch: cos and sin of shape
  // [B, length, 1, head_dim/2] float64, built on `device`. Token i < f*h*w
  // of sample b sits at (i / (h*w), i / w % h, i % w); later (padding) tokens
  // get the identity rotation, as the reference leaves them untouched.
  std::array<at::Tensor, 2> rotations(const std::vector<Grid>& grids, int64_t length, const at::Device& device) const;

 private:
  int64_t head_dim_ = 0;
  int64_t max_positions_ = 0;
  RopeSplit split_{};
  at::Tensor cos_;
  at::Tensor sin_;
};

// The rotations of the last batch shape asked for. Every denoising step asks
// for the same grids, so the tables are built once per shape on the device
// instead of on every forward (a host-to-device copy is a synchronisation on
// CUDA). Thread-safe.
class RopeCache {
 public:
  std::array<at::Tensor, 2> rotations(const RopeTable& table, const std::vector<Grid>& grids, int64_t length,
                                      const at::Device& device);
  // How many times the tables were built, for tests.
  int64_t builds() const;

 private:
  mutable std::mutex mutex_;
  std::vector<Grid> grids_;
  int64_t length_ = -1;
  at::Device device_{at::kCPU};
  std::array<at::Tensor, 2> rotations_;
  int64_t builds_ = 0;
};

// x: [B, L, heads, head_dim]; rotations from RopeTable::rotations(..., L, ...).
// Rotates in float64, returns x's dtype.
at::Tensor apply_rope(const at::Tensor& x, const std::array<at::Tensor, 2>& rotations);

}  // namespace soragen::dit
