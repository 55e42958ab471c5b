// Reading back the generation parameters a writer stored.
#pragma once

#include <filesystem>
#include <string>

namespace soragen::video {

// From an MP4's "comment" tag, or a PNG folder's params.json. Empty when the
// output carries none. Throws OutputError when the file cannot be read.
std::string read_metadata_json(const std::filesystem::path& output);

}  // namespace soragen::video
