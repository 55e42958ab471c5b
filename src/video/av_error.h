// Readable FFmpeg errors. av_err2str is a macro built on a compound literal,
// which is not C++, so messages go through av_strerror here.
#pragma once

#include <filesystem>
#include <string>

#include "soragen/error.h"

namespace soragen::video {

// The text of an FFmpeg (AVERROR) or negated errno code, e.g. "No space left
// on device"; never empty, also for codes FFmpeg does not know.
std::string av_error_string(int code);

// The one-line form every writer error takes: "output '<target>': <problem>".
OutputError output_error(const std::filesystem::path& target, const std::string& problem);

// Throws output_error(target, "<action>: <FFmpeg message>") when ret < 0 and
// returns ret otherwise, so calls read `check_av(avio_open(...), ...)`.
int check_av(int ret, const std::filesystem::path& target, const std::string& action);

}  // namespace soragen::video
