#include "video/mp4_writer.h"

#include <climits>
#include <cmath>
#include <sstream>
#include <string>

extern "C" {
#include <libavutil/rational.h>
}

#include "soragen/error.h"
#include "video/atomic_output.h"
#include "video/av_error.h"
#include "video/av_handles.h"
#include "video/sink_state.h"

namespace soragen::video {
namespace fs = std::filesystem;

namespace {

const char* const kPresets[] = {"ultrafast", "superfast", "veryfast", "faster", "fast",
                                "medium",    "slow",      "slower",   "veryslow", "placebo"};

std::string number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

void check_request(const fs::path& target, int width, int height, const WriteOptions& options) {
  const std::string size = std::to_string(width) + "x" + std::to_string(height);
  if (width <= 0 || height <= 0) throw output_error(target, "frame size " + size + " is not positive");
  if (width % 2 != 0 || height % 2 != 0) {
    throw output_error(target, "frame size " + size + " is odd; H.264 in yuv420p needs an even width and height");
  }
  if (!std::isfinite(options.fps) || options.fps <= 0 || options.fps > 1000) {
    throw output_error(target, "frame rate " + number(options.fps) + " is not in (0, 1000]");
  }
  if (options.crf < 1 || options.crf > 51) {
    throw output_error(target, "crf " + std::to_string(options.crf) +
                                   " is not in 1..51 (0, lossless, needs a profile browsers do not play)");
  }
  bool known = false;
  for (const char* preset : kPresets) known = known || options.preset == preset;
  if (!known) {
    throw output_error(target, "unknown x264 preset '" + options.preset +
                                   "' (ultrafast, superfast, veryfast, faster, fast, medium, slow, slower, "
                                   "veryslow, placebo)");
  }
}

class Mp4Sink final : public FrameSink {
 public:
  Mp4Sink(const fs::path& target, int width, int height, const WriteOptions& options);
  void write(const std::uint8_t* rgb) override;
  void commit() override;
  int frames_written() const override { return static_cast<int>(next_pts_); }

 private:
  void open_encoder(const WriteOptions& options);
  void open_converter();
  void mux(AVPacket& packet);
  void check_cancel() const { state_.check_cancel(); }
  void release() noexcept;

  const fs::path& target() const { return output_.target(); }

  // Declared first so that it is destroyed last, after the muxer has closed
  // the file it removes.
  TemporaryOutput output_;
  const int width_;
  const int height_;
  SinkState state_;
  OutputContextPtr muxer_;
  AVStream* stream_ = nullptr;  // owned by muxer_
  CodecContextPtr encoder_;
  SwsContextPtr converter_;
  FramePtr frame_;
  PacketPtr packet_;
  std::int64_t next_pts_ = 0;
};

Mp4Sink::Mp4Sink(const fs::path& target, int width, int height, const WriteOptions& options)
    : output_(target, TemporaryOutput::Kind::file), width_(width),
      height_(height),
      state_(output_, options.cancel, [this] { release(); }) {
  // The "file:" prefix keeps a ':' in a directory name from being read as a
  // protocol. +faststart reopens this same URL to move the moov atom forward.
  const std::string url = "file:" + output_.path().string();
  AVFormatContext* muxer = nullptr;
  check_av(avformat_alloc_output_context2(&muxer, nullptr, "mp4", url.c_str()), this->target(),
           "cannot set up the MP4 muxer");
  muxer_.reset(muxer);
  stream_ = avformat_new_stream(muxer, nullptr);
  if (!stream_) throw std::bad_alloc();

  open_encoder(options);
  stream_->time_base = encoder_->time_base;
  stream_->avg_frame_rate = encoder_->framerate;
  check_av(avcodec_parameters_from_context(stream_->codecpar, encoder_.get()), this->target(),
           "cannot set up the video stream");

  // The mov muxer stores "comment" as the iTunes-style ©cmt item, which
  // libavformat reads back byte for byte (UTF-8).
  if (!options.metadata_json.empty()) {
    check_av(av_dict_set(&muxer->metadata, "comment", options.metadata_json.c_str(), 0), this->target(),
             "cannot store the metadata");
  }
  check_av(avio_open(&muxer->pb, url.c_str(), AVIO_FLAG_WRITE), this->target(), "cannot open for writing");
  Dictionary muxer_options;
  av_dict_set(muxer_options.address(), "movflags", "+faststart", 0);
  check_av(avformat_write_header(muxer, muxer_options.address()), this->target(), "cannot write the MP4 header");

  open_converter();
  packet_ = make_packet();
}

void Mp4Sink::open_encoder(const WriteOptions& options) {
  const AVCodec* codec = avcodec_find_encoder_by_name("libx264");
  if (!codec) throw output_error(target(), "this FFmpeg build has no libx264 encoder");
  encoder_.reset(avcodec_alloc_context3(codec));
  if (!encoder_) throw std::bad_alloc();
  AVCodecContext* c = encoder_.get();
  const Rational rate = exact_frame_rate(options.fps);
  c->width = width_;
  c->height = height_;
  c->pix_fmt = AV_PIX_FMT_YUV420P;
  c->sample_aspect_ratio = AVRational{1, 1};
  // One tick per frame: pts is the frame index, so N frames last exactly N/fps.
  c->time_base = AVRational{rate.den, rate.num};
  c->framerate = AVRational{rate.num, rate.den};
  // What open_converter() produces. x264 writes it into the H.264 VUI, which
  // is where browsers look, and the muxer copies it into the colr box.
  c->color_range = AVCOL_RANGE_MPEG;
  c->colorspace = AVCOL_SPC_BT709;
  c->color_primaries = AVCOL_PRI_BT709;
  c->color_trc = AVCOL_TRC_BT709;
  // MP4 keeps SPS/PPS once in the avcC box rather than before each keyframe.
  if (muxer_->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;

  Dictionary settings;
  av_dict_set(settings.address(), "preset", options.preset.c_str(), 0);
  av_dict_set(settings.address(), "crf", std::to_string(options.crf).c_str(), 0);
  // Caps the stream at High, which every browser decodes; without it a crf
  // or x264 setting could drift into High 4:4:4 or 10-bit profiles they
  // refuse. ultrafast drops CABAC and ends up Constrained Baseline, also fine.
  av_dict_set(settings.address(), "profile", "high", 0);
  // x264 logs through av_log to stderr; a library must stay quiet, and its
  // errors come back as return codes anyway.
  av_dict_set(settings.address(), "x264-params", "log=0", 0);
  check_av(avcodec_open2(c, codec, settings.address()), target(), "cannot open the H.264 encoder");
  if (const AVDictionaryEntry* left = av_dict_get(settings.get(), "", nullptr, AV_DICT_IGNORE_SUFFIX)) {
    throw output_error(target(), std::string("libx264 does not know the option '") + left->key + "'");
  }
}

void Mp4Sink::open_converter() {
  // FULL_CHR_H_INP filters chroma from the full-resolution input instead of
  // averaging pixel pairs; ACCURATE_RND keeps the SIMD paths from trading
  // rounding precision for speed.
  converter_.reset(sws_getContext(width_, height_, AV_PIX_FMT_RGB24, width_, height_, AV_PIX_FMT_YUV420P,
                                  SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP, nullptr, nullptr, nullptr));
  if (!converter_) throw output_error(target(), "cannot set up the RGB to YUV conversion");
  // Full-range RGB in, BT.709 limited-range YUV out, as tagged on the stream.
  const int* bt709 = sws_getCoefficients(SWS_CS_ITU709);
  if (sws_setColorspaceDetails(converter_.get(), bt709, 1, bt709, 0, 0, 1 << 16, 1 << 16) < 0) {
    throw output_error(target(), "cannot set the BT.709 colour conversion");
  }
  frame_ = make_frame();
  frame_->format = AV_PIX_FMT_YUV420P;
  frame_->width = width_;
  frame_->height = height_;
  frame_->color_range = AVCOL_RANGE_MPEG;
  frame_->colorspace = AVCOL_SPC_BT709;
  check_av(av_frame_get_buffer(frame_.get(), 0), target(), "cannot allocate a frame");
}

void Mp4Sink::release() noexcept {
  packet_.reset();
  frame_.reset();
  converter_.reset();
  encoder_.reset();
  muxer_.reset();
  stream_ = nullptr;
}

// Every step either completes or leaves the sink failed with its temporary
// file gone, so a caller that catches the error has nothing to clean up.
void Mp4Sink::write(const std::uint8_t* rgb) {
  state_.guarded([&] {
    check_cancel();
    // The encoder may still hold a reference to the previous picture.
    check_av(av_frame_make_writable(frame_.get()), target(), "cannot allocate a frame");
    const std::uint8_t* planes[1] = {rgb};
    const int strides[1] = {3 * width_};
    sws_scale(converter_.get(), planes, strides, 0, height_, frame_->data, frame_->linesize);
    frame_->pts = next_pts_;
    check_av(avcodec_send_frame(encoder_.get(), frame_.get()), target(),
             "cannot encode frame " + std::to_string(next_pts_));
    ++next_pts_;
    state_.drain(encoder_.get(), packet_.get(), false, [this](AVPacket& packet) { mux(packet); });
  });
}

void Mp4Sink::mux(AVPacket& packet) {
  // libx264 leaves durations unset; the muxer would guess the last sample's
  // length from the stream's frame rate. Every frame lasts one tick.
  packet.duration = 1;
  av_packet_rescale_ts(&packet, encoder_->time_base, stream_->time_base);
  packet.stream_index = stream_->index;
  check_av(av_interleaved_write_frame(muxer_.get(), &packet), target(), "cannot write");
}

void Mp4Sink::commit() {
  state_.guarded([&] {
    state_.flush(encoder_.get(), packet_.get(), next_pts_, [this](AVPacket& packet) { mux(packet); });
    // The trailer writes the index and, for +faststart, rewrites the whole
    // file; avio reports a failed write only through its sticky error and
    // the close, so all three are checked.
    check_av(av_write_trailer(muxer_.get()), target(), "cannot write");
    check_av(muxer_->pb->error, target(), "cannot write");
    check_av(avio_closep(&muxer_->pb), target(), "cannot write");
    state_.commit();
  });
}

}  // namespace

Rational exact_frame_rate(double fps) {
  const double whole = std::round(fps);
  if (std::fabs(fps - whole) < 1e-6 && whole >= 1 && whole <= INT_MAX) return {static_cast<int>(whole), 1};
  const double ntsc = std::round(fps * 1.001);
  if (ntsc >= 1 && ntsc <= INT_MAX / 1000 && std::fabs(fps * 1.001 / ntsc - 1.0) < 1e-5) {
    return {static_cast<int>(ntsc) * 1000, 1001};
  }
  Rational rate;
  av_reduce(&rate.num, &rate.den, std::llround(fps * 1000.0), 1000, INT_MAX);
  return rate;
}

std::unique_ptr<FrameSink> open_mp4(const fs::path& target, int width, int height, const WriteOptions& options) {
  check_request(target, width, height, options);
  return std::make_unique<Mp4Sink>(target, width, height, options);
}

}  // namespace soragen::video
