// Reading a video clip given by the user (--video, --extend, --connect): MP4,
// WebM, MOV or anything else FFmpeg's demuxers open, decoded with libavcodec
// into 8-bit RGB frames in display order.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "video/image_reader.h"  // RgbImage

namespace soragen::video {

struct RgbVideo {
  int width = 0;
  int height = 0;
  double fps = 0;                // the stream's average frame rate (0 when the file does not say)
  int64_t total_frames = 0;      // frames the file holds, whether kept or not
  std::vector<RgbImage> frames;  // the frames kept (see VideoReadOptions)
};

// Which frames to keep. A long clip is decoded whole either way, but only
// `max_frames` of it stay in memory: the first ones, or the last ones.
struct VideoReadOptions {
  int64_t max_frames = 0;  // 0: every frame
  bool from_end = false;   // keep the last max_frames instead of the first
};

// The largest input read, so that a hostile file cannot take all memory.
inline constexpr std::uintmax_t kMaxVideoFileBytes = 8ull << 30;
inline constexpr std::int64_t kMaxVideoFramePixels = 4096ll * 4096;
inline constexpr std::int64_t kMaxVideoKeptBytes = 4ll << 30;

// Throws UsageError "<flag> '<path>': <problem>" for a missing, unreadable,
// empty, truncated or corrupt file, a file with no video stream, an image
// given where a video belongs, frames over the limits, or a clip with no
// decodable frame.
RgbVideo read_video(const std::filesystem::path& path, const std::string& flag, const VideoReadOptions& options = {});

}  // namespace soragen::video
