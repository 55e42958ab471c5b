#include "video/png_writer.h"

#include <cstdio>
#include <string>

extern "C" {
#include <libavutil/crc.h>
#include <libavutil/imgutils.h>
}

#include "soragen/error.h"
#include "video/atomic_output.h"
#include "video/av_error.h"
#include "video/av_handles.h"
#include "video/sink_state.h"

namespace soragen::video {
namespace fs = std::filesystem;

namespace {

void put_be32(std::string& out, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((value >> shift) & 0xff));
}

// An iTXt chunk rather than tEXt because tEXt is Latin-1 and prompts are not.
// FFmpeg's PNG encoder has no way to add one, so it is spliced in by hand.
std::string itxt_chunk(const std::string& keyword, const std::string& text) {
  std::string body = "iTXt" + keyword;
  // Keyword terminator, compression flag and method (none), empty language
  // tag and translated keyword, each ended by a zero byte.
  body.append(5, '\0');
  body += text;
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(body.data());
  const std::uint32_t crc = ~av_crc(av_crc_get_table(AV_CRC_32_IEEE_LE), 0xffffffffu, bytes, body.size());
  std::string chunk;
  put_be32(chunk, static_cast<std::uint32_t>(body.size() - 4));
  chunk += body;
  put_be32(chunk, crc);
  return chunk;
}

class PngSequenceSink final : public FrameSink {
 public:
  PngSequenceSink(const fs::path& directory, int width, int height, const WriteOptions& options);
  void write(const std::uint8_t* rgb) override;
  void commit() override;
  int frames_written() const override { return written_; }

 private:
  void save(AVPacket& packet);
  void check_cancel() const { state_.check_cancel(); }

  const fs::path& target() const { return output_.target(); }

  TemporaryOutput output_;
  const int width_;
  const int height_;
  SinkState state_;
  std::string text_chunk_;
  CodecContextPtr encoder_;
  FramePtr frame_;
  PacketPtr packet_;
  std::int64_t sent_ = 0;
  int written_ = 0;
};

PngSequenceSink::PngSequenceSink(const fs::path& directory, int width, int height, const WriteOptions& options)
    : output_(directory, TemporaryOutput::Kind::directory),
      width_(width),
      height_(height),
      state_(output_, options.cancel, [this] { encoder_.reset(); }) {
  if (!options.metadata_json.empty()) {
    write_file_fully(output_.path() / "params.json", options.metadata_json.data(), options.metadata_json.size(),
                     target());
    text_chunk_ = itxt_chunk("soragen", options.metadata_json);
  }
  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
  if (!codec) throw output_error(target(), "this FFmpeg build has no PNG encoder");
  encoder_.reset(avcodec_alloc_context3(codec));
  if (!encoder_) throw std::bad_alloc();
  encoder_->width = width;
  encoder_->height = height;
  encoder_->pix_fmt = AV_PIX_FMT_RGB24;
  // Required by every video encoder, meaningless for single images.
  encoder_->time_base = AVRational{1, 1};
  check_av(avcodec_open2(encoder_.get(), codec, nullptr), target(), "cannot open the PNG encoder");

  frame_ = make_frame();
  frame_->format = AV_PIX_FMT_RGB24;
  frame_->width = width;
  frame_->height = height;
  check_av(av_frame_get_buffer(frame_.get(), 0), target(), "cannot allocate a frame");
  packet_ = make_packet();
}

void PngSequenceSink::write(const std::uint8_t* rgb) {
  state_.guarded([&] {
    check_cancel();
    check_av(av_frame_make_writable(frame_.get()), target(), "cannot allocate a frame");
    av_image_copy_plane(frame_->data[0], frame_->linesize[0], rgb, 3 * width_, 3 * width_, height_);
    frame_->pts = sent_;
    check_av(avcodec_send_frame(encoder_.get(), frame_.get()), target(),
             "cannot encode frame " + std::to_string(sent_));
    ++sent_;
    state_.drain(encoder_.get(), packet_.get(), false, [this](AVPacket& packet) { save(packet); });
  });
}

void PngSequenceSink::save(AVPacket& packet) {
  char name[32];
  std::snprintf(name, sizeof name, "frame_%05d.png", written_);
  std::string png(reinterpret_cast<const char*>(packet.data), static_cast<std::size_t>(packet.size));
  // Signature (8 bytes), then IHDR (length, type, 13 bytes, CRC); the PNG
  // spec puts text chunks anywhere between IHDR and IEND.
  constexpr std::size_t after_ihdr = 8 + 4 + 4 + 13 + 4;
  if (!text_chunk_.empty() && png.size() > after_ihdr && png.compare(12, 4, "IHDR") == 0) {
    png.insert(after_ihdr, text_chunk_);
  }
  write_file_fully(output_.path() / name, png.data(), png.size(), target());
  ++written_;
  av_packet_unref(&packet);
}

void PngSequenceSink::commit() {
  state_.guarded([&] {
    state_.flush(encoder_.get(), packet_.get(), sent_, [this](AVPacket& packet) { save(packet); });
    state_.commit();
  });
}

}  // namespace

std::unique_ptr<FrameSink> open_png_sequence(const fs::path& directory, int width, int height,
                                             const WriteOptions& options) {
  if (width <= 0 || height <= 0) {
    throw output_error(directory, "frame size " + std::to_string(width) + "x" + std::to_string(height) +
                                      " is not positive");
  }
  return std::make_unique<PngSequenceSink>(directory, width, height, options);
}

}  // namespace soragen::video
