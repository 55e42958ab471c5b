// The checks every file a user hands soragen to read (--image, --video,
// --extend, --connect) goes through before a decoder sees it, so each kind
// of problem reads the same whatever the flag.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace soragen::video {

// Throws UsageError "<where>: <problem>" when `path` is missing, a
// directory, unreadable, empty, or over `max_bytes` (`kind` names what was
// expected: "an image", "a video"). Returns its size in bytes.
std::uintmax_t check_input_file(const std::filesystem::path& path, const std::string& where, const std::string& kind,
                                std::uintmax_t max_bytes);

}  // namespace soragen::video
