// The video output stage in one include: pick a format for a target, then
// either stream frames into a FrameSink or write a whole VideoFrames at once.
//
//   auto sink = soragen::video::open_mp4("out/cat.mp4", 832, 480, options);
//   for (each decoded frame) sink->write(rgb);
//   sink->commit();  // before this, out/cat.mp4 is untouched
#pragma once

#include <filesystem>
#include <optional>

#include "soragen/video.h"
#include "video/frame_sink.h"
#include "video/metadata.h"
#include "video/mp4_writer.h"
#include "video/png_writer.h"

namespace soragen::video {

enum class OutputFormat { mp4, png };

// An explicit format wins. Otherwise a target ending in '/' or naming an
// existing folder is a PNG sequence, anything else an MP4.
OutputFormat format_for(const std::filesystem::path& target, std::optional<OutputFormat> explicit_format = {});

std::unique_ptr<FrameSink> open_sink(const std::filesystem::path& target, int width, int height,
                                     OutputFormat format, const WriteOptions& options);

// The whole clip at once: open_sink, every frame, commit. Throws OutputError
// (also for a frame buffer that does not match its size) or InterruptedError.
void write_video(const std::filesystem::path& target, const VideoFrames& frames, OutputFormat format,
                 const WriteOptions& options);

}  // namespace soragen::video
