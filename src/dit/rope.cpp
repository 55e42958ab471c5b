#include "dit/rope.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

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

namespace {

// One pass on the CPU: every pair is rotated in float64 with the reference's
// own operations, (re cos - im sin, re sin + im cos), and rounded once to
// x's type, so it equals the tensor expression below bit for bit.
// Contraction is off: a fused multiply-add would round differently.
template <typename T>
__attribute__((optimize("fp-contract=off"))) void rotate_pairs(const T* x, const double* cos, const double* sin,
                                                                T* out, int64_t rows, int64_t heads, int64_t pairs) {
  at::parallel_for(0, rows, 1, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const double* c = cos + row * pairs;
      const double* s = sin + row * pairs;
      for (int64_t head = 0; head < heads; ++head) {
        const int64_t offset = (row * heads + head) * 2 * pairs;
        const T* in = x + offset;
        T* o = out + offset;
        for (int64_t k = 0; k < pairs; ++k) {
          const double re = static_cast<double>(in[2 * k]);
          const double im = static_cast<double>(in[2 * k + 1]);
          o[2 * k] = static_cast<T>(re * c[k] - im * s[k]);
          o[2 * k + 1] = static_cast<T>(re * s[k] + im * c[k]);
        }
      }
    }
  });
}

}  // namespace

at::Tensor apply_rope(const at::Tensor& x, const std::array<at::Tensor, 2>& rotations) {
  // x: [B, L, n, d] -> pairs [B, L, n, d/2, 2]
  const auto sizes = x.sizes();
  const at::Tensor& cos = rotations[0];
  const at::Tensor& sin = rotations[1];
  // The CPU's inference path: the tensor expression takes eight passes over
  // strided float64 copies of x (about 4% of a CPU step), this one.
  const bool one_rotation_per_token = cos.numel() == sizes[0] * sizes[1] * (sizes[3] / 2) && cos.sizes() == sin.sizes();
  if (x.device().is_cpu() && one_rotation_per_token && !(at::GradMode::is_enabled() && x.requires_grad())) {
    const at::Tensor in = x.contiguous();
    const at::Tensor c = cos.contiguous(), s = sin.contiguous();
    at::Tensor out = at::empty_like(in);
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, in.scalar_type(), "apply_rope", [&] {
      rotate_pairs<scalar_t>(in.data_ptr<scalar_t>(), c.data_ptr<double>(), s.data_ptr<double>(),
                             out.data_ptr<scalar_t>(), sizes[0] * sizes[1], sizes[2], sizes[3] / 2);
    });
    return out;
  }
  const at::Tensor pairs = x.to(at::kDouble).view({sizes[0], sizes[1], sizes[2], sizes[3] / 2, 2});
  const at::Tensor re = pairs.select(4, 0);
  const at::Tensor im = pairs.select(4, 1);
  // (re + i im) * (cos + i sin)
  const at::Tensor rotated = at::stack({re * cos - im * sin, re * sin + im * cos}, 4);
  return rotated.view(sizes).to(x.scalar_type());
}

}  // namespace soragen::dit
