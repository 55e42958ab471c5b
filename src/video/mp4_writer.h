// H.264 MP4 output that plays in browsers: libx264 (High profile), yuv420p
// with BT.709 limited-range colour tagged on the stream, moov atom first
// (+faststart), constant frame rate with time base 1/fps and pts = frame index.
#pragma once

#include <filesystem>
#include <memory>

#include "video/frame_sink.h"

namespace soragen::video {

struct Rational {
  int num = 0;
  int den = 1;
};

// The exact rate a double stands for: integers as n/1, the NTSC rates
// (23.976, 29.97, ...) as n*1000/1001, anything else as the closest fraction
// with a denominator up to 1000. Expects a finite fps > 0.
Rational exact_frame_rate(double fps);

// Checks the options and dimensions (even, positive), then creates the
// temporary file beside `target`. Throws OutputError.
std::unique_ptr<FrameSink> open_mp4(const std::filesystem::path& target, int width, int height,
                                    const WriteOptions& options);

}  // namespace soragen::video
