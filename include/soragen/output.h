// Writing rendered frames: an MP4 (H.264) or a folder of numbered PNGs,
// always through a temporary file renamed on success.
#pragma once

#include <atomic>
#include <filesystem>
#include <string>

#include "soragen/log.h"
#include "soragen/options.h"
#include "soragen/pipeline.h"
#include "soragen/video.h"

namespace soragen {

enum class OutputFormat { mp4, png };

struct OutputOptions {
  double fps = 16.0;
  int crf = 18;                               // x264 quality: 1 best .. 51 worst; 18 looks lossless
  std::string metadata_json;                  // stored in the file (MP4 comment tag / params.json)
  const std::atomic<bool>* cancel = nullptr;  // set: stop and leave nothing behind
};

// "auto" picks png for an -o ending in '/', else mp4. Throws UsageError for an
// unknown format or an MP4 target without a .mp4 name.
OutputFormat output_format_for(const std::string& target, const std::string& format);

// Checks, before any work, that the target's directory exists and is
// writable, and that a PNG target is not a file. Throws OutputError, its
// message led by `flag` and the target ("-o 'out.mp4': ...").
void check_output_target(const std::filesystem::path& target, OutputFormat format, const std::string& flag = "-o");
// For a single render, also that a PNG target is not a directory with files
// in it, which writing would refuse after the whole render. Throws OutputError.
void check_fresh_output_target(const std::filesystem::path& target, OutputFormat format,
                               const std::string& flag = "-o");

// Writes atomically: an error or cancellation leaves no partial output and
// never replaces an existing good file. Throws OutputError / InterruptedError.
void write_video_file(const std::filesystem::path& target, const VideoFrames& frames, OutputFormat format,
                      const OutputOptions& options);

// FFmpeg's own messages (x264's settings line, ...) at this level or above
// reach stderr. FFmpeg keeps this setting process-wide.
void set_codec_log_level(LogLevel level);

// The JSON stored in every output so that it says how to make it again.
std::string generation_metadata(const ResolvedRequest& request, const ModelSource& model);

}  // namespace soragen
