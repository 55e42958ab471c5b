// Reading --image files: the three formats, alpha and palettes, and one
// clear error for each kind of bad file.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include "soragen/error.h"
#include "test_util.h"
#include "video/image_reader.h"
#include "video_test_util.h"

namespace soragen::video {
namespace {

namespace fs = std::filesystem;

fs::path image_file(const std::string& name) { return fs::path(soragen::test::data_dir()) / "images" / name; }

// The fixtures hold this 24x16 pattern (tests/data/images/README.md).
std::array<int, 3> pattern(int x, int y) { return {x * 10, y * 15, (x + y) * 5}; }

// The largest and the mean absolute difference from the pattern over all bytes.
std::pair<int, double> pattern_error(const RgbImage& image) {
  int worst = 0;
  double total = 0;
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) {
      for (int c = 0; c < 3; ++c) {
        const int diff = std::abs(image.at(x, y)[c] - pattern(x, y)[c]);
        worst = std::max(worst, diff);
        total += diff;
      }
    }
  }
  return {worst, total / (image.width * image.height * 3.0)};
}

std::string error_of(const fs::path& path) {
  try {
    read_image(path, "--image");
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

std::string bytes_of(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

TEST(ImageReader, LosslessFormatsAreExact) {
  for (const char* name : {"pattern.png", "pattern_rgba.png", "pattern_lossless.webp"}) {
    const RgbImage image = read_image(image_file(name), "--image");
    ASSERT_EQ(image.width, 24) << name;
    ASSERT_EQ(image.height, 16) << name;
    ASSERT_EQ(image.pixels.size(), 24u * 16 * 3) << name;
    EXPECT_EQ(pattern_error(image).first, 0) << name;  // alpha dropped, colours untouched
  }
}

TEST(ImageReader, APaletteImageMatchesFfmpegsOwnDecode) {
  // FFmpeg quantised the pattern when it wrote the palette; pattern_palette.rgb
  // is what the ffmpeg command line decodes from it.
  const RgbImage image = read_image(image_file("pattern_palette.png"), "--image");
  ASSERT_EQ(image.width, 24);
  ASSERT_EQ(image.height, 16);
  const std::string expected = bytes_of(image_file("pattern_palette.rgb"));
  ASSERT_EQ(expected.size(), image.pixels.size());
  EXPECT_TRUE(std::equal(expected.begin(), expected.end(), image.pixels.begin(),
                         [](char a, std::uint8_t b) { return static_cast<std::uint8_t>(a) == b; }));
}

TEST(ImageReader, AJpegIsClose) {
  // Lossy, and swscale's YCbCr conversion is not libjpeg's to the last bit.
  const RgbImage image = read_image(image_file("pattern.jpg"), "--image");
  ASSERT_EQ(image.width, 24);
  ASSERT_EQ(image.height, 16);
  const auto [worst, mean] = pattern_error(image);
  EXPECT_LT(mean, 4.0);
  EXPECT_LT(worst, 40);
}

TEST(ImageReader, TheFormatComesFromTheBytesNotTheName) {
  test::ScratchDir dir;
  const fs::path renamed = dir / "photo.png";
  fs::copy_file(image_file("pattern.jpg"), renamed);
  EXPECT_EQ(read_image(renamed, "--image").width, 24);
}

TEST(ImageReader, BadFilesGetOneClearError) {
  test::ScratchDir dir;
  EXPECT_EQ(error_of(dir / "missing.png"), "--image '" + (dir / "missing.png").string() + "': no such file");
  EXPECT_EQ(error_of(dir.path()), "--image '" + dir.path().string() + "': is a directory, expected an image file");

  write_bytes(dir / "empty.png", "");
  EXPECT_EQ(error_of(dir / "empty.png"), "--image '" + (dir / "empty.png").string() + "': is empty");

  write_bytes(dir / "anim.gif", "GIF89a\x01\x00\x01\x00");
  EXPECT_EQ(error_of(dir / "anim.gif"),
            "--image '" + (dir / "anim.gif").string() + "': a GIF image; expected a PNG, JPEG or WebP image");
  write_bytes(dir / "notes.png", "just some text\n");
  EXPECT_EQ(error_of(dir / "notes.png"), "--image '" + (dir / "notes.png").string() +
                                             "': not an image soragen reads; expected a PNG, JPEG or WebP image");

  for (const char* name : {"pattern.png", "pattern.jpg", "pattern_lossless.webp"}) {
    const std::string bytes = bytes_of(image_file(name));
    const fs::path truncated = dir / (std::string("cut-") + name);
    write_bytes(truncated, bytes.substr(0, bytes.size() / 2));
    EXPECT_NE(error_of(truncated).find("': corrupt or truncated "), std::string::npos) << name << ": "
                                                                                        << error_of(truncated);
    std::string damaged = bytes;
    for (std::size_t i = 16; i < damaged.size(); i += 3) damaged[i] = static_cast<char>(damaged[i] ^ 0x5A);
    const fs::path garbled = dir / (std::string("bad-") + name);
    write_bytes(garbled, damaged);
    EXPECT_NE(error_of(garbled).find("': corrupt or truncated "), std::string::npos) << name << ": "
                                                                                     << error_of(garbled);
  }
}

}  // namespace
}  // namespace soragen::video
