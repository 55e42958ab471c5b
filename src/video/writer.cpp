#include "video/writer.h"

#include <string>
#include <system_error>

#include "video/av_error.h"

namespace soragen::video {
namespace fs = std::filesystem;

FrameSink::~FrameSink() = default;

OutputFormat format_for(const fs::path& target, std::optional<OutputFormat> explicit_format) {
  if (explicit_format) return *explicit_format;
  std::error_code ec;
  if (!target.has_filename() || fs::is_directory(target, ec)) return OutputFormat::png;
  return OutputFormat::mp4;
}

std::unique_ptr<FrameSink> open_sink(const fs::path& target, int width, int height, OutputFormat format,
                                     const WriteOptions& options) {
  return format == OutputFormat::png ? open_png_sequence(target, width, height, options)
                                     : open_mp4(target, width, height, options);
}

void write_video(const fs::path& target, const VideoFrames& frames, OutputFormat format,
                 const WriteOptions& options) {
  if (frames.count <= 0) throw output_error(target, "no frames to write");
  if (frames.width <= 0 || frames.height <= 0 ||
      frames.rgb.size() != static_cast<std::size_t>(frames.count) * frames.frame_bytes()) {
    throw output_error(target, "frame buffer holds " + std::to_string(frames.rgb.size()) + " bytes, not " +
                                   std::to_string(frames.count) + " frames of " + std::to_string(frames.width) +
                                   "x" + std::to_string(frames.height) + " RGB");
  }
  std::unique_ptr<FrameSink> sink = open_sink(target, frames.width, frames.height, format, options);
  for (int i = 0; i < frames.count; ++i) sink->write(frames.frame(i));
  sink->commit();
}

}  // namespace soragen::video
