#include "video/sink_state.h"

#include <string>
#include <utility>

extern "C" {
#include <libavcodec/avcodec.h>
}

#include "soragen/error.h"
#include "video/av_error.h"

namespace soragen::video {

SinkState::SinkState(TemporaryOutput& output, const std::atomic<bool>* cancel, std::function<void()> release)
    : output_(output), cancel_(cancel), release_(std::move(release)) {}

void SinkState::check_cancel() const {
  if (cancel_ && cancel_->load(std::memory_order_relaxed)) {
    throw InterruptedError("output '" + output_.target().string() + "': interrupted, nothing written");
  }
}

void SinkState::guarded(const std::function<void()>& step) {
  if (state_ != State::open) {
    throw output_error(output_.target(),
                       state_ == State::committed ? "already committed" : "an earlier write failed");
  }
  try {
    step();
  } catch (...) {
    state_ = State::failed;
    release_();
    output_.discard();
    throw;
  }
}

void SinkState::drain(AVCodecContext* encoder, AVPacket* packet, bool flushing,
                      const std::function<void(AVPacket&)>& take) const {
  for (;;) {
    const int ret = avcodec_receive_packet(encoder, packet);
    if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return;
    check_av(ret, output_.target(), "cannot encode");
    if (flushing) check_cancel();
    take(*packet);
  }
}

void SinkState::flush(AVCodecContext* encoder, AVPacket* packet, std::int64_t frames,
                      const std::function<void(AVPacket&)>& take) const {
  if (frames == 0) throw output_error(output_.target(), "no frames to write");
  check_cancel();
  check_av(avcodec_send_frame(encoder, nullptr), output_.target(), "cannot flush the encoder");
  drain(encoder, packet, true, take);
  check_cancel();
}

void SinkState::commit() {
  output_.commit();
  state_ = State::committed;
  release_();
}

}  // namespace soragen::video
