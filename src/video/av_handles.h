// Owning handles for the FFmpeg objects the writers use. Every FFmpeg
// allocation goes straight into one of these, so an exception thrown at any
// point releases everything without a cleanup path per function.
#pragma once

#include <memory>
#include <new>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/dict.h>
#include <libavutil/frame.h>
#include <libswscale/swscale.h>
}

namespace soragen::video {

// An output context owns the AVIOContext the caller opened into it; the
// muxer never closes it, so the deleter has to. Write errors reported by the
// close are lost here: a writer that commits calls avio_closep itself first.
struct OutputContextDeleter {
  void operator()(AVFormatContext* context) const noexcept {
    if (context->oformat && !(context->oformat->flags & AVFMT_NOFILE)) avio_closep(&context->pb);
    avformat_free_context(context);
  }
};
using OutputContextPtr = std::unique_ptr<AVFormatContext, OutputContextDeleter>;

// Contexts from avformat_open_input own their I/O and need the matching close.
struct InputContextDeleter {
  void operator()(AVFormatContext* context) const noexcept { avformat_close_input(&context); }
};
using InputContextPtr = std::unique_ptr<AVFormatContext, InputContextDeleter>;

struct CodecContextDeleter {
  void operator()(AVCodecContext* context) const noexcept { avcodec_free_context(&context); }
};
using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextDeleter>;

struct FrameDeleter {
  void operator()(AVFrame* frame) const noexcept { av_frame_free(&frame); }
};
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;

struct PacketDeleter {
  void operator()(AVPacket* packet) const noexcept { av_packet_free(&packet); }
};
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;

struct SwsContextDeleter {
  void operator()(SwsContext* context) const noexcept { sws_freeContext(context); }
};
using SwsContextPtr = std::unique_ptr<SwsContext, SwsContextDeleter>;

// FFmpeg's option functions take an AVDictionary** that they may reallocate or
// consume, which a unique_ptr cannot hand out; this owns the pointer instead.
class Dictionary {
 public:
  Dictionary() = default;
  Dictionary(const Dictionary&) = delete;
  Dictionary& operator=(const Dictionary&) = delete;
  ~Dictionary() { av_dict_free(&dict_); }

  AVDictionary** address() { return &dict_; }
  AVDictionary* get() const { return dict_; }
  int count() const { return av_dict_count(dict_); }

 private:
  AVDictionary* dict_ = nullptr;
};

// Allocation failures of these small structs are out-of-memory, not output
// problems, so they surface as std::bad_alloc.
inline FramePtr make_frame() {
  FramePtr frame(av_frame_alloc());
  if (!frame) throw std::bad_alloc();
  return frame;
}

inline PacketPtr make_packet() {
  PacketPtr packet(av_packet_alloc());
  if (!packet) throw std::bad_alloc();
  return packet;
}

}  // namespace soragen::video
