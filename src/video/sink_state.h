// The life of a FrameSink that writes into a TemporaryOutput: open until it
// commits or a step fails, and after a failure its temporary output is gone,
// so a caller that catches the error has nothing to clean up.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>

#include "video/atomic_output.h"

struct AVCodecContext;
struct AVPacket;

namespace soragen::video {

class SinkState {
 public:
  // `release` frees the sink's encoder handles; it runs after a failed step
  // and after the commit, and must not throw. `output` and whatever `release`
  // touches must outlive this object.
  SinkState(TemporaryOutput& output, const std::atomic<bool>* cancel, std::function<void()> release);

  // Throws InterruptedError once the WriteOptions::cancel flag is set.
  void check_cancel() const;
  // Runs one step of the sink. Refused (OutputError) once committed or
  // failed; when `step` throws, the sink is failed, released and its
  // temporary output removed before the error goes on.
  void guarded(const std::function<void()>& step);
  // Hands every packet `encoder` has ready to `take`. While flushing, the
  // cancel flag is checked before each one: an encoder's lookahead (x264's)
  // makes the flush the longest step of a short clip.
  void drain(AVCodecContext* encoder, AVPacket* packet, bool flushing,
             const std::function<void(AVPacket&)>& take) const;
  // The start of every commit: refuses a sink that got no frames, then
  // flushes `encoder` through drain(), checking the cancel flag before and
  // after.
  void flush(AVCodecContext* encoder, AVPacket* packet, std::int64_t frames,
             const std::function<void(AVPacket&)>& take) const;
  // Renames the temporary output onto the target; the sink is then released
  // and refuses every further step. Call it inside guarded().
  void commit();

 private:
  enum class State { open, committed, failed };

  TemporaryOutput& output_;
  const std::atomic<bool>* cancel_;
  std::function<void()> release_;
  State state_ = State::open;
};

}  // namespace soragen::video
