#include "video/av_error.h"

#include <cstring>

extern "C" {
#include <libavutil/error.h>
}

namespace soragen::video {

std::string av_error_string(int code) {
  char buffer[AV_ERROR_MAX_STRING_SIZE] = {};
  if (av_strerror(code, buffer, sizeof buffer) < 0 || buffer[0] == '\0') {
    return "unknown FFmpeg error " + std::to_string(code);
  }
  return buffer;
}

OutputError output_error(const std::filesystem::path& target, const std::string& problem) {
  return OutputError("output '" + target.string() + "': " + problem);
}

int check_av(int ret, const std::filesystem::path& target, const std::string& action) {
  if (ret < 0) throw output_error(target, action + ": " + av_error_string(ret));
  return ret;
}

}  // namespace soragen::video
