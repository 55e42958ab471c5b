// Decoded video frames as the pipeline hands them to writers: 8-bit RGB,
// frame-major, then row-major, 3 bytes a pixel. Free of torch and FFmpeg types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace soragen {

struct VideoFrames {
  int width = 0;
  int height = 0;
  int count = 0;  // number of frames
  std::vector<std::uint8_t> rgb;  // count * height * width * 3 bytes

  VideoFrames() = default;
  VideoFrames(int width_, int height_, int count_)
      : width(width_), height(height_), count(count_),
        rgb(static_cast<std::size_t>(count_) * height_ * width_ * 3, 0) {}

  std::size_t frame_bytes() const { return static_cast<std::size_t>(height) * width * 3; }
  std::uint8_t* frame(int index) { return rgb.data() + index * frame_bytes(); }
  const std::uint8_t* frame(int index) const { return rgb.data() + index * frame_bytes(); }
};

}  // namespace soragen
