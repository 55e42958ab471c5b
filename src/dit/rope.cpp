#include "dit/rope.h"

#include <ATen/ATen.h>

#include <string>

#include "soragen/error.h"

namespace soragen::dit {
namespace {

// [max_positions, pairs] angles pos / theta^(2k/(2*pairs)), float64 throughout
// like the reference's rope_params.
at::Tensor part_angles(int64_t max_positions, int64_t pairs, double theta) {
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  const double width = static_cast<double>(2 * pairs);
  const at::Tensor exponents = at::arange(0, 2 * pairs, 2, f64).div(width);
  const at::Tensor inv_freq = at::pow(theta, exponents).reciprocal();
  return at::outer(at::arange(max_positions, f64), inv_freq);
}

}  // namespace

RopeSplit rope_split(int64_t head_dim) {
  const int64_t pairs = head_dim / 2;
  return {pairs - 2 * (pairs / 3), pairs / 3, pairs / 3};
}

RopeTable::RopeTable(int64_t head_dim, int64_t max_positions, double theta)
    : head_dim_(head_dim), max_positions_(max_positions), split_(rope_split(head_dim)) {
  const at::Tensor angles = at::cat({part_angles(max_positions, split_.frame, theta),
                                     part_angles(max_positions, split_.height, theta),
                                     part_angles(max_positions, split_.width, theta)},
                                    1);
  cos_ = angles.cos();
  sin_ = angles.sin();
}

std::array<at::Tensor, 2> RopeTable::rotations(const std::vector<Grid>& grids, int64_t length,
                                               const at::Device& device) const {
  const int64_t pairs = head_dim_ / 2;
  const int64_t batch = static_cast<int64_t>(grids.size());
  const auto f64 = at::TensorOptions().dtype(at::kDouble).device(device);
  const at::Tensor cos_table = cos_.to(device);
  const at::Tensor sin_table = sin_.to(device);
  at::Tensor cos = at::ones({batch, length, pairs}, f64);
  at::Tensor sin = at::zeros({batch, length, pairs}, f64);
  const std::array<int64_t, 3> part_pairs{split_.frame, split_.height, split_.width};
  for (int64_t b = 0; b < batch; ++b) {
    const Grid& g = grids[b];
    const int64_t tokens = g[0] * g[1] * g[2];
    if (tokens > length) {
      throw InternalError("RoPE: sample " + std::to_string(b) + " has " + std::to_string(tokens) +
                          " tokens, more than the sequence length " + std::to_string(length));
    }
    for (int64_t size : g) {
      if (size > max_positions_) {
        throw InternalError("RoPE: a latent grid of " + std::to_string(g[0]) + "x" + std::to_string(g[1]) + "x" +
                            std::to_string(g[2]) + " tokens exceeds the table's " + std::to_string(max_positions_) +
                            " positions per axis");
      }
    }
    // Each part's rows for its axis, broadcast over the other two axes.
    std::vector<at::Tensor> cos_parts;
    std::vector<at::Tensor> sin_parts;
    int64_t column = 0;
    for (int axis = 0; axis < 3; ++axis) {
      std::vector<int64_t> view{1, 1, 1, part_pairs[axis]};
      view[axis] = g[axis];
      const auto rows = [&](const at::Tensor& table) {
        return table.narrow(1, column, part_pairs[axis]).narrow(0, 0, g[axis]).view(view).expand(
            {g[0], g[1], g[2], part_pairs[axis]});
      };
      cos_parts.push_back(rows(cos_table));
      sin_parts.push_back(rows(sin_table));
      column += part_pairs[axis];
    }
    cos[b].narrow(0, 0, tokens).copy_(at::cat(cos_parts, 3).reshape({tokens, pairs}));
    sin[b].narrow(0, 0, tokens).copy_(at::cat(sin_parts, 3).reshape({tokens, pairs}));
  }
  return {cos.unsqueeze(2), sin.unsqueeze(2)};
}

std::array<at::Tensor, 2> RopeCache::rotations(const RopeTable& table, const std::vector<Grid>& grids,
                                               int64_t length, const at::Device& device) {
  const std::lock_guard<std::mutex> lock(mutex_);
  if (builds_ == 0 || grids != grids_ || length != length_ || device != device_) {
    rotations_ = table.rotations(grids, length, device);
    grids_ = grids;
    length_ = length;
    device_ = device;
    ++builds_;
  }
  return rotations_;
}

int64_t RopeCache::builds() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return builds_;
}

at::Tensor apply_rope(const at::Tensor& x, const std::array<at::Tensor, 2>& rotations) {
  // x: [B, L, n, d] -> pairs [B, L, n, d/2, 2]
  const auto sizes = x.sizes();
  const at::Tensor pairs = x.to(at::kDouble).view({sizes[0], sizes[1], sizes[2], sizes[3] / 2, 2});
  const at::Tensor re = pairs.select(4, 0);
  const at::Tensor im = pairs.select(4, 1);
  const at::Tensor& cos = rotations[0];
  const at::Tensor& sin = rotations[1];
  // (re + i im) * (cos + i sin)
  const at::Tensor out = at::stack({re * cos - im * sin, re * sin + im * cos}, 4);
  return out.view(sizes).to(x.scalar_type());
}

}  // namespace soragen::dit
