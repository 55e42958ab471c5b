#include "video/video_reader.h"

#include <deque>

#include "soragen/error.h"
#include "video/av_error.h"
#include "video/av_handles.h"
#include "video/ffmpeg_log.h"
#include "video/input_file.h"

extern "C" {
#include <libavutil/rational.h>
}

namespace fs = std::filesystem;

namespace soragen::video {
namespace {

// Converts decoded frames to RGB24 at their own size, reusing one scaler.
class RgbConverter {
 public:
  RgbImage convert(const AVFrame& frame, const std::string& where) {
    if (!scaler_ || frame.width != width_ || frame.height != height_ || frame.format != format_) {
      width_ = frame.width;
      height_ = frame.height;
      format_ = frame.format;
      scaler_.reset(sws_getContext(width_, height_, static_cast<AVPixelFormat>(format_), width_, height_,
                                   AV_PIX_FMT_RGB24, SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT,
                                   nullptr, nullptr, nullptr));
      if (!scaler_) throw UsageError(where + ": unsupported pixel format in the video");
      // The matrix and range the stream is tagged with (soragen writes
      // BT.709 limited range); untagged SD video is BT.601, as players assume.
      const int matrix = frame.colorspace == AVCOL_SPC_BT709 ? SWS_CS_ITU709 : SWS_CS_ITU601;
      const int full = frame.color_range == AVCOL_RANGE_JPEG ? 1 : 0;
      const int* table = sws_getCoefficients(matrix);
      sws_setColorspaceDetails(scaler_.get(), table, full, table, 1, 0, 1 << 16, 1 << 16);
    }
    RgbImage image;
    image.width = width_;
    image.height = height_;
    image.pixels.resize(static_cast<std::size_t>(width_) * height_ * 3);
    std::uint8_t* planes[1] = {image.pixels.data()};
    const int strides[1] = {width_ * 3};
    if (sws_scale(scaler_.get(), frame.data, frame.linesize, 0, height_, planes, strides) != height_) {
      throw UsageError(where + ": could not convert a video frame to RGB");
    }
    return image;
  }

 private:
  SwsContextPtr scaler_;
  int width_ = 0;
  int height_ = 0;
  int format_ = -1;
};

}  // namespace

RgbVideo read_video(const fs::path& path, const std::string& flag, const VideoReadOptions& options) {
  const std::string where = flag + " '" + path.string() + "'";
  check_input_file(path, where, "a video", kMaxVideoFileBytes);
  const QuietDecoderLog quiet;
  AVFormatContext* raw = nullptr;
  if (const int ret = avformat_open_input(&raw, path.c_str(), nullptr, nullptr); ret < 0) {
    throw UsageError(where + ": not a video FFmpeg can open (" + av_error_string(ret) + ")");
  }
  InputContextPtr input(raw);
  if (const int ret = avformat_find_stream_info(input.get(), nullptr); ret < 0) {
    throw UsageError(where + ": corrupt or truncated video (" + av_error_string(ret) + ")");
  }
  const AVCodec* codec = nullptr;
  const int stream_index = av_find_best_stream(input.get(), AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (stream_index < 0 || !codec) throw UsageError(where + ": has no video stream FFmpeg can decode");
  const AVStream* stream = input->streams[stream_index];
  // An image opened through image2 is a one-frame "video"; it is almost
  // always a flag mix-up (--video photo.png), so say so.
  const std::string demuxer = input->iformat && input->iformat->name ? input->iformat->name : "";
  if (demuxer.find("_pipe") != std::string::npos || demuxer == "image2") {
    throw UsageError(where + ": is a still image, expected a video (MP4, WebM or MOV); give images with --image");
  }
  CodecContextPtr context(avcodec_alloc_context3(codec));
  if (!context) throw std::bad_alloc();
  if (avcodec_parameters_to_context(context.get(), stream->codecpar) < 0) {
    throw UsageError(where + ": unusable video stream parameters");
  }
  context->max_pixels = kMaxVideoFramePixels;
  if (const int ret = avcodec_open2(context.get(), codec, nullptr); ret < 0) {
    throw UsageError(where + ": cannot open its " + codec->name + " decoder (" + av_error_string(ret) + ")");
  }

  RgbVideo video;
  const AVRational rate = stream->avg_frame_rate.num > 0 ? stream->avg_frame_rate : stream->r_frame_rate;
  video.fps = rate.num > 0 && rate.den > 0 ? av_q2d(rate) : 0;
  std::deque<RgbImage> kept;
  RgbConverter converter;
  int64_t kept_bytes_limit_frames = 0;
  const auto keep = [&](const AVFrame& frame) {
    if (frame.width <= 0 || frame.height <= 0 ||
        static_cast<std::int64_t>(frame.width) * frame.height > kMaxVideoFramePixels) {
      throw UsageError(where + ": frames of " + std::to_string(frame.width) + "x" + std::to_string(frame.height) +
                       " are over the limit of " + std::to_string(kMaxVideoFramePixels) + " pixels");
    }
    if (video.total_frames == 0) {
      video.width = frame.width;
      video.height = frame.height;
      kept_bytes_limit_frames = kMaxVideoKeptBytes / (static_cast<int64_t>(frame.width) * frame.height * 3);
    } else if (frame.width != video.width || frame.height != video.height) {
      throw UsageError(where + ": its frame size changes mid-stream (" + std::to_string(video.width) + "x" +
                       std::to_string(video.height) + " to " + std::to_string(frame.width) + "x" +
                       std::to_string(frame.height) + ")");
    }
    ++video.total_frames;
    const bool full = options.max_frames > 0 && static_cast<int64_t>(kept.size()) >= options.max_frames;
    if (full && !options.from_end) return;
    if (full) kept.pop_front();
    if (static_cast<int64_t>(kept.size()) >= kept_bytes_limit_frames) {
      throw UsageError(where + ": over " + std::to_string(kept_bytes_limit_frames) + " frames at " +
                       std::to_string(video.width) + "x" + std::to_string(video.height) +
                       " would not fit the memory limit; trim the clip first");
    }
    kept.push_back(converter.convert(frame, where));
  };

  PacketPtr packet = make_packet();
  FramePtr frame = make_frame();
  const auto drain = [&] {
    for (;;) {
      const int ret = avcodec_receive_frame(context.get(), frame.get());
      if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return;
      if (ret < 0) throw UsageError(where + ": corrupt video data (" + av_error_string(ret) + ")");
      if (frame->decode_error_flags != 0 || (frame->flags & AV_FRAME_FLAG_CORRUPT)) {
        throw UsageError(where + ": corrupt video data (frame " + std::to_string(video.total_frames) + ")");
      }
      keep(*frame);
      av_frame_unref(frame.get());
    }
  };
  for (;;) {
    const int ret = av_read_frame(input.get(), packet.get());
    if (ret == AVERROR_EOF) break;
    if (ret < 0) throw UsageError(where + ": truncated or unreadable video (" + av_error_string(ret) + ")");
    if (packet->stream_index == stream_index) {
      const int sent = avcodec_send_packet(context.get(), packet.get());
      av_packet_unref(packet.get());
      if (sent < 0 && sent != AVERROR(EAGAIN)) {
        throw UsageError(where + ": corrupt video data (" + av_error_string(sent) + ")");
      }
      drain();
    } else {
      av_packet_unref(packet.get());
    }
  }
  avcodec_send_packet(context.get(), nullptr);
  drain();
  if (video.total_frames == 0) throw UsageError(where + ": holds no decodable video frame");
  // A cut-off file whose index survived (MP4 with the index in front) reads
  // to a quiet end; the index's own count says frames are missing.
  if (stream->nb_frames > 0 && video.total_frames < stream->nb_frames) {
    throw UsageError(where + ": truncated video: " + std::to_string(video.total_frames) + " of its " +
                     std::to_string(stream->nb_frames) + " frames could be decoded");
  }
  video.frames.assign(std::make_move_iterator(kept.begin()), std::make_move_iterator(kept.end()));
  return video;
}

}  // namespace soragen::video
