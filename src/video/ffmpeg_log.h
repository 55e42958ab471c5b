// FFmpeg, libx264 and the muxers print to stderr through av_log, whose level
// is one setting for the whole process; the writers never touch it. The
// command line calls this once (e.g. warning, or debug under --verbose).
#pragma once

#include "soragen/log.h"

namespace soragen::video {

void set_ffmpeg_log_level(LogLevel level);

}  // namespace soragen::video
