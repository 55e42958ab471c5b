#include "vae/frames.h"

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "io/tensor_source.h"

namespace soragen::vae {

void append_video_frames(const at::Tensor& video_in, VideoFrames& frames) {
  const at::Tensor video = video_in.dim() == 5 && video_in.size(0) == 1 ? video_in[0] : video_in;
  if (video.dim() != 4 || video.size(0) != 3) {
    throw std::invalid_argument("video frames: expected [3, T, H, W], got " + io::format_shape(video_in.sizes()));
  }
  const int count = static_cast<int>(video.size(1));
  const int height = static_cast<int>(video.size(2));
  const int width = static_cast<int>(video.size(3));
  if (frames.count == 0) {
    frames.width = width;
    frames.height = height;
  } else if (frames.width != width || frames.height != height) {
    throw std::invalid_argument("video frames: " + std::to_string(width) + "x" + std::to_string(height) +
                                " frames appended to a " + std::to_string(frames.width) + "x" +
                                std::to_string(frames.height) + " video");
  }
  const at::Tensor bytes = to_channels_last_bytes(video);
  const size_t offset = frames.rgb.size();
  frames.rgb.resize(offset + static_cast<size_t>(bytes.numel()));
  std::memcpy(frames.rgb.data() + offset, bytes.data_ptr<uint8_t>(), static_cast<size_t>(bytes.numel()));
  frames.count += count;
}

VideoFrames to_video_frames(const at::Tensor& video) {
  VideoFrames frames;
  append_video_frames(video, frames);
  return frames;
}

at::Tensor from_video_frames(const VideoFrames& frames) {
  const size_t expected = static_cast<size_t>(frames.count) * frames.frame_bytes();
  if (frames.count <= 0 || frames.rgb.size() != expected) {
    throw std::invalid_argument("video frames: " + std::to_string(frames.rgb.size()) + " bytes for " +
                                std::to_string(frames.count) + " frames of " + std::to_string(frames.width) + "x" +
                                std::to_string(frames.height));
  }
  return from_video_frames(frames, 0, frames.count);
}

at::Tensor from_video_frames(const VideoFrames& frames, int64_t first, int64_t count) {
  if (first < 0 || count <= 0 || first + count > frames.count) {
    throw std::invalid_argument("video frames: frames [" + std::to_string(first) + ", " +
                                std::to_string(first + count) + ") of a " + std::to_string(frames.count) +
                                "-frame video");
  }
  const at::Tensor bytes = at::from_blob(const_cast<uint8_t*>(frames.frame(static_cast<int>(first))),
                                         {count, frames.height, frames.width, 3}, at::kByte);
  // [T, H, W, 3] -> [3, T, H, W]
  return bytes.permute({3, 0, 1, 2}).to(at::kFloat).div(127.5).sub(1.0).contiguous();
}

at::Tensor to_channels_last_bytes(const at::Tensor& signed_video) {
  std::vector<int64_t> order;  // channels to the end
  for (int64_t d = 1; d < signed_video.dim(); ++d) order.push_back(d);
  order.push_back(0);
  return signed_video.detach()
      .to(at::kCPU, at::kFloat)
      .clamp(-1.0, 1.0)
      .add(1.0)
      .mul(127.5)
      .round()
      .clamp(0.0, 255.0)
      .to(at::kByte)
      .permute(order)
      .contiguous();
}

}  // namespace soragen::vae
