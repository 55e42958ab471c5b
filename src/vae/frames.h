// Conversions between the VAE's float video and 8-bit RGB frames
// (include/soragen/video.h VideoFrames).
//
// To 8 bits: v = round_half_even((clamp(x, -1, 1) + 1) * 127.5), computed in
// float32 (at::round; 127.5 -> 128, 0.5 -> 0). The reference's writer
// (wan/utils/utils.py cache_video) instead truncates (x+1)/2*255, i.e. it is
// up to one level darker; rounding is the unbiased choice.
// From 8 bits: x = v / 127.5 - 1, the exact inverse on the 256 levels.
#pragma once

#include <ATen/ATen.h>

#include "soragen/video.h"

namespace soragen::vae {

// video: [3, T, H, W] (or [1, 3, T, H, W]) float in [-1, 1] -> T frames.
VideoFrames to_video_frames(const at::Tensor& video);
// The streaming form: appends the frames of `video` to `frames` (its size is
// set by the first call and must match afterwards).
void append_video_frames(const at::Tensor& video, VideoFrames& frames);
// All frames -> [3, T, H, W] float32 in [-1, 1], ready for encode (add the batch dim).
at::Tensor from_video_frames(const VideoFrames& frames);
// Frames [first, first + count) -> [3, count, H, W] float32 in [-1, 1].
at::Tensor from_video_frames(const VideoFrames& frames, int64_t first, int64_t count);
// A float frame [3, H, W] or video [3, T, H, W] in [-1, 1] -> uint8 bytes
// channels last ([H, W, 3] or [T, H, W, 3]) on the CPU: the exact inverse of
// from_video_frames for values it produced.
at::Tensor to_channels_last_bytes(const at::Tensor& signed_video);

}  // namespace soragen::vae
