// Shared helpers of the video tests: synthetic clips, a scratch folder, an
// independent FFmpeg decoder to check what the writers produced, and a way to
// run a write in a child process under limits the test process must not get.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "soragen/video.h"

namespace soragen::video::test {

// Smooth gradients that drift with time plus a moving square with hard
// edges: the kind of content where a wrong colour matrix, range or chroma
// siting shows up as a large error.
VideoFrames synthetic_clip(int width, int height, int count, bool with_square = true);
// Uniform noise, which x264 cannot compress: makes files big quickly.
VideoFrames noise_clip(int width, int height, int count, unsigned seed);

// A fresh folder under the system temp dir, removed with everything in it.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  // Names of the entries directly inside `dir` (default: this folder), sorted.
  std::vector<std::string> entries(const std::filesystem::path& dir = {}) const;

 private:
  std::filesystem::path path_;
};

struct DecodedVideo {
  std::string codec;        // e.g. "h264", "png"
  std::string pix_fmt;      // e.g. "yuv420p"
  int width = 0;
  int height = 0;
  int profile = -99;        // FF_PROFILE_*
  int avg_fps_num = 0, avg_fps_den = 0;
  int time_base_num = 0, time_base_den = 0;
  double duration_s = -1;   // container duration
  std::string color_range;  // av_color_range_name
  std::string color_space;  // av_color_space_name
  std::vector<std::int64_t> pts;  // in stream time base, in presentation order
  std::vector<std::vector<std::uint8_t>> rgb;  // converted back as the tags say
};

// Decodes every frame of a video or image file with libavformat/libavcodec,
// converting YUV back to full-range RGB with the matrix and range the stream
// is tagged with. Fails the test (via exception) on any FFmpeg error.
DecodedVideo decode_file(const std::filesystem::path& file);

// Mean absolute difference per channel between the clip and decoded frames.
std::vector<double> mean_abs_error(const VideoFrames& expected, const DecodedVideo& decoded);

std::string read_bytes(const std::filesystem::path& file);

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }
inline bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

// Runs `body` in a forked child and reports how it ended: "ok", or
// "OutputError: <what>", "InterruptedError: <what>", "other: <what>", or
// "crashed" when it died of a signal.
std::string run_in_child(const std::function<void()>& body);

}  // namespace soragen::video::test
