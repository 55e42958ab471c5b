#include "video/ffmpeg_log.h"

extern "C" {
#include <libavutil/log.h>
}

namespace soragen::video {

void set_ffmpeg_log_level(LogLevel level) {
  switch (level) {
    case LogLevel::debug: av_log_set_level(AV_LOG_VERBOSE); break;
    case LogLevel::info: av_log_set_level(AV_LOG_INFO); break;
    case LogLevel::warning: av_log_set_level(AV_LOG_WARNING); break;
    case LogLevel::error: av_log_set_level(AV_LOG_ERROR); break;
    case LogLevel::off: av_log_set_level(AV_LOG_QUIET); break;
  }
}

QuietDecoderLog::QuietDecoderLog() : saved_(av_log_get_level()) {
  if (saved_ <= AV_LOG_WARNING) av_log_set_level(AV_LOG_QUIET);
}

QuietDecoderLog::~QuietDecoderLog() { av_log_set_level(saved_); }

}  // namespace soragen::video
