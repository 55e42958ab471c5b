// What the Wan2.2 image-to-video paths add to the denoising loop, built as the
// reference builds it (golden README, Wan2.2 traps 12-14 and 19):
//  - TI2V-5B (wan/textimage2video.py) holds latent frame 0 at the image's
//    latent through a mask, and gives those tokens timestep 0;
//  - I2V-A14B (wan/image2video.py) appends y = [mask (4), the Wan2.1-VAE
//    latent of the image followed by zero frames] to the DiT's input.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <optional>
#include <utility>

namespace soragen::pipeline {

// What the DiT sees besides the noisy latent, and what the loop holds fixed.
// All empty: text to video.
struct Conditioning {
  // I2V-A14B: [4 + z_dim, F, h, w], concatenated after the latent on the
  // channel axis before the patch embedding (trap 11).
  at::Tensor y;
  // TI2V with an image: its latent [z_dim, 1, h, w]. Latent frame 0 starts
  // as, and after every step is re-blended back to, this (trap 13).
  at::Tensor first_frame;
  // Known latent frames of a clip operation (extension, connect, loops):
  // `known` [z_dim, F, h, w] where `known_mask` ([1, F, 1, 1]) is 1. A TI2V
  // DiT holds them clean with timestep 0 on their tokens, as its first frame;
  // any other DiT gets latent replacement: the latent starts as, and after
  // every step is replaced by, `known` noised to the sigma the sampler has
  // reached, with the run's own noise.
  at::Tensor known;
  at::Tensor known_mask;
  // Video to video (SDEdit): the loop joins the schedule at `start_step`
  // from `init` ([z_dim, F, h, w], the clip's latent) noised to
  // sigmas[start_step]. start_step == steps runs no step: the result is
  // `init` itself (sigma 0).
  at::Tensor init;
  int start_step = 0;
};

// The flow-matching forward process x_sigma = (1 - sigma) x0 + sigma noise.
at::Tensor noised(const at::Tensor& x0, const at::Tensor& noise, double sigma);

// mask * noised(known, noise, sigma) + (1 - mask) * latent.
at::Tensor replace_known(const at::Tensor& latent, const at::Tensor& known, const at::Tensor& mask,
                         const at::Tensor& noise, double sigma);

// TI2V's mask2: [z_dim, F, h, w] float32 of ones, with 0 on latent frame 0
// when `hold_first_frame` (the i2v mode).
at::Tensor first_frame_mask(const std::array<int64_t, 4>& latent_shape, bool hold_first_frame,
                            const at::TensorOptions& options);

// (1 - mask) * first_frame + mask * latent: frame 0 becomes the held latent.
at::Tensor hold_first_frame(const at::Tensor& latent, const at::Tensor& first_frame, const at::Tensor& mask);

// The per-token timesteps of TI2V (trap 12): the mask's channel 0 sampled at
// the patch grid (every patch_h-th row, patch_w-th column), flattened in
// (f, h, w) order and times t, padded with t up to seq_len: [1, seq_len].
at::Tensor per_token_timesteps(const at::Tensor& mask, const at::Tensor& t, int64_t patch_h, int64_t patch_w,
                               int64_t seq_len);

// An 8-bit RGB image [H, W, 3] (uint8) as the reference's
// TF.to_tensor(img).sub_(0.5).div_(0.5): [3, H, W] float32 in [-1, 1].
at::Tensor image_to_signed_tensor(const at::Tensor& rgb_u8);

// I2V-A14B's latent grid for an h x w image and a pixel budget (trap 19):
// lat_h = round(sqrt(max_area * h / w) // stride // patch * patch), and lat_w
// with w / h, with Python's float floor division. Throws UsageError when the
// budget gives an empty grid.
std::pair<int64_t, int64_t> i2v_latent_size(int64_t h, int64_t w, int64_t max_area, int64_t stride,
                                             int64_t patch);

// The image [3, H, W] in [-1, 1] resized by ONE bicubic interpolation
// (align_corners false) to height x width: [3, 1, height, width].
at::Tensor resize_bicubic(const at::Tensor& image, int64_t height, int64_t width);

// I2V-A14B's mask (trap 19): 1 on the frames given (the first, and the last
// when `last_frame`), 0 elsewhere, over `frames` pixel frames; frame 0
// repeated 4 times, then grouped by 4 into [4, lat_f, lat_h, lat_w].
at::Tensor i2v_mask(int64_t frames, int64_t lat_h, int64_t lat_w, bool last_frame, const at::TensorOptions& options);

// The video the I2V-A14B VAE encodes for y: [3, frames, H, W] holding
// `first` at frame 0, `last` (when given) at the last frame, zeros between.
at::Tensor i2v_condition_video(const at::Tensor& first, const std::optional<at::Tensor>& last, int64_t frames);

}  // namespace soragen::pipeline
