// FFmpeg, libx264 and the muxers print to stderr through av_log, whose level
// is one setting for the whole process; the writers never touch it. The
// command line calls this once (e.g. warning, or debug under --verbose).
#pragma once

#include "soragen/log.h"

namespace soragen::video {

void set_ffmpeg_log_level(LogLevel level);

// A decoder's own complaints about a broken input file ("chunk too big",
// "moov atom not found") repeat what soragen's one-line error says, on lines
// of their own; for the scope of this guard they stay quiet unless FFmpeg's
// chatter was asked for (--verbose raises the level above warning).
class QuietDecoderLog {
 public:
  QuietDecoderLog();
  ~QuietDecoderLog();
  QuietDecoderLog(const QuietDecoderLog&) = delete;
  QuietDecoderLog& operator=(const QuietDecoderLog&) = delete;

 private:
  int saved_;
};

}  // namespace soragen::video
