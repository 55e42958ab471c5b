// Reading a still image given by the user (--image, --last-image): PNG, JPEG
// or WebP, decoded with FFmpeg's libavcodec into 8-bit RGB, the form the
// reference's PIL `Image.open(...).convert("RGB")` hands its preprocessing.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace soragen::video {

// Rows of interleaved R, G, B bytes, top row first.
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;  // width * height * 3

  std::uint8_t* at(int x, int y) { return pixels.data() + (static_cast<std::size_t>(y) * width + x) * 3; }
  const std::uint8_t* at(int x, int y) const {
    return pixels.data() + (static_cast<std::size_t>(y) * width + x) * 3;
  }
};

// The largest file and image read, so that a hostile file cannot take all
// memory: 256 MiB of file, 8192x8192 pixels decoded.
inline constexpr std::uintmax_t kMaxImageFileBytes = 256u << 20;
inline constexpr std::int64_t kMaxImagePixels = 8192ll * 8192;

// Decodes the first frame of a PNG, JPEG or WebP file (the format comes from
// the file's first bytes, not its name). Alpha is dropped, as PIL's
// convert("RGB") does; EXIF orientation is not applied (neither does PIL's
// Image.open). Throws UsageError "<flag> '<path>': <problem>" for a missing,
// unreadable, empty, truncated or corrupt file, another format, or an image
// over the limits.
RgbImage read_image(const std::filesystem::path& path, const std::string& flag);

}  // namespace soragen::video
