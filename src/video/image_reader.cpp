#include "video/image_reader.h"

#include <cstring>
#include <fstream>

#include "soragen/error.h"
#include "video/av_error.h"
#include "video/av_handles.h"
#include "video/ffmpeg_log.h"
#include "video/input_file.h"

namespace fs = std::filesystem;

namespace soragen::video {
namespace {

struct ImageFormat {
  AVCodecID codec;
  const char* name;
};

bool starts_with(const std::string& bytes, const char* magic, std::size_t size, std::size_t offset = 0) {
  return bytes.size() >= offset + size && std::memcmp(bytes.data() + offset, magic, size) == 0;
}

// The format from the file's signature. Names lie (a .png that is a JPEG is
// common after a rename); the first bytes do not.
const ImageFormat* format_of(const std::string& bytes) {
  static const ImageFormat png{AV_CODEC_ID_PNG, "PNG"};
  static const ImageFormat jpeg{AV_CODEC_ID_MJPEG, "JPEG"};
  static const ImageFormat webp{AV_CODEC_ID_WEBP, "WebP"};
  if (starts_with(bytes, "\x89PNG\r\n\x1a\n", 8)) return &png;
  if (starts_with(bytes, "\xFF\xD8\xFF", 3)) return &jpeg;
  if (starts_with(bytes, "RIFF", 4) && starts_with(bytes, "WEBP", 4, 8)) return &webp;
  return nullptr;
}

// A guess at what the file is instead, for the error message.
std::string what_it_is(const std::string& bytes) {
  if (starts_with(bytes, "GIF8", 4)) return "a GIF image";
  if (starts_with(bytes, "BM", 2)) return "a BMP image";
  if (starts_with(bytes, "ftyp", 4, 4)) return "a video (MP4/MOV)";
  if (starts_with(bytes, "\x1A\x45\xDF\xA3", 4)) return "a video (WebM/MKV)";
  if (starts_with(bytes, "II*\0", 4) || starts_with(bytes, "MM\0*", 4)) return "a TIFF image";
  return "not an image soragen reads";
}

std::string read_file_bytes(const fs::path& path, const std::string& where) {
  const std::uintmax_t size = check_input_file(path, where, "an image", kMaxImageFileBytes);
  std::ifstream in(path, std::ios::binary);
  std::string bytes(static_cast<std::size_t>(size), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (in.gcount() != static_cast<std::streamsize>(size)) throw UsageError(where + ": read error");
  return bytes;
}

// The whole file is one packet: each of the three decoders takes a complete
// file as one frame, which spares a demuxer (and image2's treatment of '%'
// in file names as a sequence pattern).
FramePtr decode(const std::string& bytes, const ImageFormat& format, const std::string& where) {
  const AVCodec* codec = avcodec_find_decoder(format.codec);
  if (!codec) throw UsageError(where + ": this FFmpeg has no " + format.name + " decoder");
  CodecContextPtr context(avcodec_alloc_context3(codec));
  if (!context) throw std::bad_alloc();
  context->max_pixels = kMaxImagePixels;
  const auto fail = [&](const std::string& problem) {
    return UsageError(where + ": corrupt or truncated " + format.name + " image (" + problem + ")");
  };
  if (const int ret = avcodec_open2(context.get(), codec, nullptr); ret < 0) throw fail(av_error_string(ret));
  PacketPtr packet = make_packet();
  if (av_new_packet(packet.get(), static_cast<int>(bytes.size())) < 0) throw std::bad_alloc();
  std::memcpy(packet->data, bytes.data(), bytes.size());
  if (const int ret = avcodec_send_packet(context.get(), packet.get()); ret < 0) throw fail(av_error_string(ret));
  avcodec_send_packet(context.get(), nullptr);  // flush: a decoder may hold the frame back
  FramePtr frame = make_frame();
  if (const int ret = avcodec_receive_frame(context.get(), frame.get()); ret < 0) throw fail(av_error_string(ret));
  if (frame->decode_error_flags != 0 || (frame->flags & AV_FRAME_FLAG_CORRUPT)) throw fail("damaged data");
  return frame;
}

}  // namespace

RgbImage read_image(const fs::path& path, const std::string& flag) {
  const std::string where = flag + " '" + path.string() + "'";
  const std::string bytes = read_file_bytes(path, where);
  const ImageFormat* format = format_of(bytes);
  if (!format) throw UsageError(where + ": " + what_it_is(bytes) + "; expected a PNG, JPEG or WebP image");
  const FramePtr frame = [&] {
    const QuietDecoderLog quiet;
    return decode(bytes, *format, where);
  }();
  if (frame->width <= 0 || frame->height <= 0 ||
      static_cast<std::int64_t>(frame->width) * frame->height > kMaxImagePixels) {
    throw UsageError(where + ": is " + std::to_string(frame->width) + "x" + std::to_string(frame->height) +
                     ", over the limit of " + std::to_string(kMaxImagePixels) + " pixels");
  }
  RgbImage image;
  image.width = frame->width;
  image.height = frame->height;
  image.pixels.resize(static_cast<std::size_t>(image.width) * image.height * 3);
  // Exact conversion: no scaling happens, and full chroma interpolation with
  // accurate rounding keeps a JPEG's colours as close to libjpeg's (PIL's)
  // as swscale gets.
  SwsContextPtr convert(sws_getContext(image.width, image.height, static_cast<AVPixelFormat>(frame->format),
                                       image.width, image.height, AV_PIX_FMT_RGB24,
                                       SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_FULL_CHR_H_INP,
                                       nullptr, nullptr, nullptr));
  if (!convert) throw UsageError(where + ": unsupported pixel format in the " + format->name + " image");
  std::uint8_t* planes[1] = {image.pixels.data()};
  const int strides[1] = {image.width * 3};
  if (sws_scale(convert.get(), frame->data, frame->linesize, 0, image.height, planes, strides) != image.height) {
    throw UsageError(where + ": could not convert the " + std::string(format->name) + " image to RGB");
  }
  return image;
}

}  // namespace soragen::video
