#include "pipeline/conditioning.h"

#include <cmath>
#include <string>

#include "soragen/error.h"

namespace soragen::pipeline {
namespace {

// Python's float // float: floor of the quotient.
double py_floordiv(double a, double b) { return std::floor(a / b); }

// Python's round(): half to even.
int64_t py_round(double x) { return static_cast<int64_t>(std::nearbyint(x)); }

}  // namespace

at::Tensor first_frame_mask(const std::array<int64_t, 4>& latent_shape, bool hold_first_frame,
                            const at::TensorOptions& options) {
  at::Tensor mask = at::ones({latent_shape[0], latent_shape[1], latent_shape[2], latent_shape[3]}, options);
  if (hold_first_frame) mask.select(1, 0).zero_();
  return mask;
}

at::Tensor hold_first_frame(const at::Tensor& latent, const at::Tensor& first_frame, const at::Tensor& mask) {
  // The reference's order of operations, so the float32 rounding is its own.
  return (1.0 - mask) * first_frame + mask * latent;
}

at::Tensor per_token_timesteps(const at::Tensor& mask, const at::Tensor& t, int64_t patch_h, int64_t patch_w,
                               int64_t seq_len) {
  using at::indexing::None;
  using at::indexing::Slice;
  const at::Tensor grid = mask.select(0, 0).index({Slice(), Slice(None, None, patch_h), Slice(None, None, patch_w)});
  const at::Tensor tokens = (grid * t).flatten();
  if (tokens.numel() > seq_len) {
    throw InternalError("per-token timesteps: " + std::to_string(tokens.numel()) + " tokens exceed seq_len " +
                        std::to_string(seq_len));
  }
  const at::Tensor padding = at::ones({seq_len - tokens.numel()}, tokens.options()) * t;
  return at::cat({tokens, padding}).unsqueeze(0);
}

at::Tensor image_to_signed_tensor(const at::Tensor& rgb_u8) {
  if (rgb_u8.dim() != 3 || rgb_u8.size(2) != 3) throw InternalError("image_to_signed_tensor: expected [H, W, 3]");
  // to_tensor divides by 255 in float32; sub_(0.5).div_(0.5) follows.
  return rgb_u8.permute({2, 0, 1}).to(at::kFloat).div(255).sub(0.5).div(0.5).contiguous();
}

std::pair<int64_t, int64_t> i2v_latent_size(int64_t h, int64_t w, int64_t max_area, int64_t stride,
                                             int64_t patch) {
  // image2video.py: aspect_ratio = h / w, then the two roots of the budget.
  const double aspect = static_cast<double>(h) / static_cast<double>(w);
  const auto side = [&](double root) {
    return py_round(py_floordiv(py_floordiv(root, static_cast<double>(stride)), static_cast<double>(patch)) *
                    static_cast<double>(patch));
  };
  const int64_t lat_h = side(std::sqrt(static_cast<double>(max_area) * aspect));
  const int64_t lat_w = side(std::sqrt(static_cast<double>(max_area) / aspect));
  if (lat_h < 1 || lat_w < 1) {
    throw UsageError("a " + std::to_string(w) + "x" + std::to_string(h) + " image within " +
                     std::to_string(max_area) + " pixels gives an empty latent grid (" + std::to_string(lat_w) + "x" +
                     std::to_string(lat_h) + "); raise --width/--height");
  }
  return {lat_h, lat_w};
}

at::Tensor resize_bicubic(const at::Tensor& image, int64_t height, int64_t width) {
  // F.interpolate(img[None], size=(h, w), mode='bicubic') then transpose(0, 1).
  return at::upsample_bicubic2d(image.unsqueeze(0), {height, width}, /*align_corners=*/false).transpose(0, 1);
}

at::Tensor i2v_mask(int64_t frames, int64_t lat_h, int64_t lat_w, bool last_frame, const at::TensorOptions& options) {
  using at::indexing::Slice;
  at::Tensor mask = at::ones({1, frames, lat_h, lat_w}, options);
  if (last_frame) {
    mask.index_put_({Slice(), Slice(1, frames - 1)}, 0);  // first_last_frame2video.py: msk[:, 1:-1] = 0
  } else {
    mask.index_put_({Slice(), Slice(1, at::indexing::None)}, 0);
  }
  mask = at::cat({at::repeat_interleave(mask.narrow(1, 0, 1), 4, 1), mask.narrow(1, 1, frames - 1)}, 1);
  return mask.view({1, mask.size(1) / 4, 4, lat_h, lat_w}).transpose(1, 2)[0];
}

at::Tensor i2v_condition_video(const at::Tensor& first, const std::optional<at::Tensor>& last, int64_t frames) {
  // first, last: [3, 1, H, W].
  const int64_t zeros = frames - 1 - (last ? 1 : 0);
  std::vector<at::Tensor> parts{first, at::zeros({3, zeros, first.size(2), first.size(3)}, first.options())};
  if (last) parts.push_back(*last);
  return at::cat(parts, 1);
}

at::Tensor noised(const at::Tensor& x0, const at::Tensor& noise, double sigma) {
  return x0 * (1.0 - sigma) + noise * sigma;
}

at::Tensor replace_known(const at::Tensor& latent, const at::Tensor& known, const at::Tensor& mask,
                         const at::Tensor& noise, double sigma) {
  return at::lerp(latent, noised(known, noise, sigma), mask);
}

}  // namespace soragen::pipeline
