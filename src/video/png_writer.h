// A folder of numbered PNGs (frame_00000.png, ...) plus params.json, built in
// a temporary sibling folder and renamed into place on commit. The target
// folder must not exist or be empty: new frames are never mixed with old
// files, and a failed write leaves an existing folder untouched.
#pragma once

#include <filesystem>
#include <memory>

#include "video/frame_sink.h"

namespace soragen::video {

// Throws OutputError when the target is a non-empty folder or a file, or its
// parent folder is missing or not writable.
std::unique_ptr<FrameSink> open_png_sequence(const std::filesystem::path& directory, int width, int height,
                                             const WriteOptions& options);

}  // namespace soragen::video
