#include <c10/util/Logging.h>
#ifdef C10_USE_GLOG
#include <glog/logging.h>
#endif

#include <algorithm>

#include "soragen/log.h"

namespace soragen {

void set_libtorch_log_level(LogLevel level) {
  // glog's and c10's severities: 0 info, 1 warning, 2 error, 3 fatal.
  const int lowest_shown = std::clamp(static_cast<int>(level) - 1, 0, 3);
#ifdef C10_USE_GLOG
  static const int defaults = FLAGS_minloglevel;
  FLAGS_minloglevel = level == LogLevel::debug ? defaults : lowest_shown;
#else
  static const int defaults = FLAGS_caffe2_log_level;
  FLAGS_caffe2_log_level = level == LogLevel::debug ? defaults : lowest_shown;
#endif
}

}  // namespace soragen
