// PNG sequences: lossless frames, a params.json sidecar and an iTXt chunk,
// all appearing at once when the temporary folder is renamed into place.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "soragen/error.h"
#include "video/writer.h"
#include "video_test_util.h"

namespace soragen::video {
namespace {

namespace fs = std::filesystem;
using test::ScratchDir;

const std::string kMetadata = R"({"prompt":"山间小溪, \"golden hour\"","seed":7,"steps":4})";

// Plain bitwise CRC-32 (the PNG/zlib one), independent of FFmpeg's tables.
std::uint32_t crc32(const std::string& bytes) {
  std::uint32_t crc = 0xffffffffu;
  for (unsigned char byte : bytes) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

std::uint32_t be32(const std::string& bytes, std::size_t at) {
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value = (value << 8) | static_cast<std::uint8_t>(bytes[at + i]);
  return value;
}

struct Chunk {
  std::string type;
  std::string data;
  bool crc_ok = false;
};

std::vector<Chunk> png_chunks(const std::string& png) {
  std::vector<Chunk> chunks;
  std::size_t at = 8;
  while (at + 12 <= png.size()) {
    const std::uint32_t length = be32(png, at);
    if (at + 12 + length > png.size()) break;
    Chunk chunk{png.substr(at + 4, 4), png.substr(at + 8, length)};
    chunk.crc_ok = crc32(png.substr(at + 4, 4 + length)) == be32(png, at + 8 + length);
    chunks.push_back(chunk);
    at += 12 + length;
  }
  return chunks;
}

TEST(PngWriter, WritesNumberedLosslessFramesAndParams) {
  ScratchDir dir;
  const VideoFrames clip = test::synthetic_clip(31, 21, 5);  // odd sizes are fine for PNG
  WriteOptions options;
  options.metadata_json = kMetadata;
  write_video(dir / "frames", clip, OutputFormat::png, options);

  EXPECT_EQ(dir.entries(), std::vector<std::string>{"frames"});
  EXPECT_EQ(dir.entries(dir / "frames"),
            (std::vector<std::string>{"frame_00000.png", "frame_00001.png", "frame_00002.png", "frame_00003.png",
                                      "frame_00004.png", "params.json"}));
  for (int i = 0; i < clip.count; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "frame_%05d.png", i);
    const test::DecodedVideo image = test::decode_file(dir / "frames" / name);
    EXPECT_EQ(image.codec, "png");
    EXPECT_EQ(image.pix_fmt, "rgb24");
    EXPECT_EQ(image.width, 31);
    EXPECT_EQ(image.height, 21);
    ASSERT_EQ(image.rgb.size(), 1u);
    const std::vector<std::uint8_t> want(clip.frame(i), clip.frame(i) + clip.frame_bytes());
    EXPECT_EQ(image.rgb[0], want) << name;
  }
  EXPECT_EQ(test::read_bytes(dir / "frames" / "params.json"), kMetadata);
  EXPECT_EQ(read_metadata_json(dir / "frames"), kMetadata);
}

TEST(PngWriter, EveryFrameCarriesTheParametersInAValidItxtChunk) {
  ScratchDir dir;
  WriteOptions options;
  options.metadata_json = kMetadata;
  write_video(dir / "f", test::synthetic_clip(8, 8, 2), OutputFormat::png, options);
  for (const char* name : {"frame_00000.png", "frame_00001.png"}) {
    const std::vector<Chunk> chunks = png_chunks(test::read_bytes(dir / "f" / name));
    ASSERT_GE(chunks.size(), 4u);
    EXPECT_EQ(chunks[0].type, "IHDR");
    EXPECT_EQ(chunks[1].type, "iTXt");
    EXPECT_EQ(chunks[1].data, std::string("soragen\0\0\0\0\0", 12) + kMetadata);
    EXPECT_EQ(chunks.back().type, "IEND");
    for (const Chunk& chunk : chunks) EXPECT_TRUE(chunk.crc_ok) << name << " " << chunk.type;
  }
}

TEST(PngWriter, WithoutMetadataThereIsNoSidecar) {
  ScratchDir dir;
  write_video(dir / "f", test::synthetic_clip(8, 8, 1), OutputFormat::png, {});
  EXPECT_EQ(dir.entries(dir / "f"), std::vector<std::string>{"frame_00000.png"});
  EXPECT_EQ(read_metadata_json(dir / "f"), "");
  for (const Chunk& chunk : png_chunks(test::read_bytes(dir / "f" / "frame_00000.png"))) {
    EXPECT_NE(chunk.type, "iTXt");
  }
}

TEST(PngWriter, TrailingSlashAndAnEmptyExistingFolderAreAccepted) {
  ScratchDir dir;
  write_video(dir.path() / "a/", test::synthetic_clip(8, 8, 2), OutputFormat::png, {});
  EXPECT_EQ(dir.entries(dir / "a").size(), 2u);
  fs::create_directory(dir / "empty");
  write_video(dir / "empty", test::synthetic_clip(8, 8, 3), OutputFormat::png, {});
  EXPECT_EQ(dir.entries(dir / "empty").size(), 3u);
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"a", "empty"}));
}

TEST(PngWriter, RefusesAFolderThatHoldsFilesAndLeavesItAlone) {
  ScratchDir dir;
  fs::create_directory(dir / "old");
  { std::FILE* f = std::fopen((dir / "old" / "keep.txt").c_str(), "wb"); std::fclose(f); }
  try {
    write_video(dir / "old", test::synthetic_clip(8, 8, 2), OutputFormat::png, {});
    FAIL() << "no OutputError";
  } catch (const OutputError& e) {
    EXPECT_EQ(std::string(e.what()), "output '" + (dir / "old").string() +
                                         "': directory is not empty; refusing to mix new frames with existing files");
  }
  EXPECT_EQ(dir.entries(dir / "old"), std::vector<std::string>{"keep.txt"});
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"old"});
}

TEST(PngWriter, FolderFilledWhileWritingFailsTheCommitAndKeepsItsFiles) {
  ScratchDir dir;
  auto sink = open_png_sequence(dir / "race", 8, 8, {});
  sink->write(test::synthetic_clip(8, 8, 1).frame(0));
  fs::create_directory(dir / "race");
  { std::FILE* f = std::fopen((dir / "race" / "other.png").c_str(), "wb"); std::fclose(f); }
  EXPECT_THROW(sink->commit(), OutputError);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"race"});
  EXPECT_EQ(dir.entries(dir / "race"), std::vector<std::string>{"other.png"});
}

TEST(PngWriter, TargetThatIsAFileIsRefused) {
  ScratchDir dir;
  { std::FILE* f = std::fopen((dir / "file").c_str(), "wb"); std::fclose(f); }
  EXPECT_THROW(open_png_sequence(dir / "file", 8, 8, {}), OutputError);
  EXPECT_THROW(open_png_sequence(dir / "file", 0, 8, {}), OutputError);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"file"});
}

TEST(PngWriter, CancelOrAbandonLeavesNoFolder) {
  ScratchDir dir;
  const VideoFrames clip = test::synthetic_clip(8, 8, 4);
  std::atomic<bool> cancel{false};
  WriteOptions options;
  options.cancel = &cancel;
  options.metadata_json = kMetadata;
  {
    auto sink = open_png_sequence(dir / "f", 8, 8, options);
    sink->write(clip.frame(0));
    ASSERT_EQ(dir.entries().size(), 1u);
    EXPECT_TRUE(test::starts_with(dir.entries()[0], ".f.part-")) << dir.entries()[0];
    cancel = true;
    EXPECT_THROW(sink->write(clip.frame(1)), InterruptedError);
    EXPECT_TRUE(dir.entries().empty());
  }
  cancel = false;
  {
    auto sink = open_png_sequence(dir / "f", 8, 8, options);
    sink->write(clip.frame(0));
  }
  EXPECT_TRUE(dir.entries().empty());
}

}  // namespace
}  // namespace soragen::video
