#include "video_test_util.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

#include "soragen/error.h"
#include "video/av_error.h"
#include "video/av_handles.h"
#include "video/ffmpeg_log.h"

namespace soragen::video::test {
namespace fs = std::filesystem;

namespace {
// x264 and the mp4 muxer print a few lines per file at info level.
class QuietFfmpeg : public ::testing::Environment {
 public:
  void SetUp() override { set_ffmpeg_log_level(LogLevel::warning); }
};
[[maybe_unused]] ::testing::Environment* const quiet_ffmpeg = ::testing::AddGlobalTestEnvironment(new QuietFfmpeg);
}  // namespace

VideoFrames synthetic_clip(int width, int height, int count, bool with_square) {
  VideoFrames clip(width, height, count);
  for (int t = 0; t < count; ++t) {
    std::uint8_t* frame = clip.frame(t);
    const int square_x = (3 * t) % std::max(1, width - 12);
    const int square_y = height / 3;
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width; ++x) {
        std::uint8_t* p = frame + (static_cast<std::size_t>(y) * width + x) * 3;
        const bool in_square = with_square && x >= square_x && x < square_x + 12 && y >= square_y && y < square_y + 12;
        if (in_square) {
          p[0] = 230, p[1] = 40, p[2] = 60;
          continue;
        }
        p[0] = static_cast<std::uint8_t>(20 + 200.0 * x / std::max(1, width - 1));
        p[1] = static_cast<std::uint8_t>(30 + 180.0 * y / std::max(1, height - 1));
        p[2] = static_cast<std::uint8_t>(128 + 90.0 * std::sin(0.05 * (x + y) + 0.3 * t));
      }
    }
  }
  return clip;
}

VideoFrames noise_clip(int width, int height, int count, unsigned seed) {
  VideoFrames clip(width, height, count);
  std::mt19937 rng(seed);
  for (auto& byte : clip.rgb) byte = static_cast<std::uint8_t>(rng() & 0xff);
  return clip;
}

ScratchDir::ScratchDir() {
  std::string pattern = (fs::temp_directory_path() / "soragen-video-test-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
  // Readable by everyone, so that a child running as another user can reach it.
  fs::permissions(path_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                             fs::perms::others_read | fs::perms::others_exec);
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  for (const auto& entry : fs::recursive_directory_iterator(path_, ec)) {
    if (entry.is_directory(ec)) fs::permissions(entry.path(), fs::perms::owner_all, fs::perm_options::add, ec);
  }
  fs::remove_all(path_, ec);
}

std::vector<std::string> ScratchDir::entries(const fs::path& dir) const {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir.empty() ? path_ : dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

DecodedVideo decode_file(const fs::path& file) {
  DecodedVideo out;
  AVFormatContext* raw = nullptr;
  const std::string url = "file:" + file.string();
  check_av(avformat_open_input(&raw, url.c_str(), nullptr, nullptr), file, "open");
  InputContextPtr input(raw);
  check_av(avformat_find_stream_info(raw, nullptr), file, "stream info");
  const AVCodec* codec = nullptr;
  const int index = check_av(av_find_best_stream(raw, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0), file, "find stream");
  AVStream* stream = raw->streams[index];
  CodecContextPtr decoder(avcodec_alloc_context3(codec));
  check_av(avcodec_parameters_to_context(decoder.get(), stream->codecpar), file, "parameters");
  check_av(avcodec_open2(decoder.get(), codec, nullptr), file, "open decoder");

  const AVCodecParameters* par = stream->codecpar;
  out.codec = avcodec_get_name(par->codec_id);
  const char* pix = av_get_pix_fmt_name(static_cast<AVPixelFormat>(par->format));
  out.pix_fmt = pix ? pix : "";
  out.width = par->width;
  out.height = par->height;
  out.profile = par->profile;
  out.avg_fps_num = stream->avg_frame_rate.num;
  out.avg_fps_den = stream->avg_frame_rate.den;
  out.time_base_num = stream->time_base.num;
  out.time_base_den = stream->time_base.den;
  if (raw->duration != AV_NOPTS_VALUE) out.duration_s = raw->duration / static_cast<double>(AV_TIME_BASE);
  const char* range = av_color_range_name(par->color_range);
  const char* space = av_color_space_name(par->color_space);
  out.color_range = range ? range : "";
  out.color_space = space ? space : "";

  PacketPtr packet = make_packet();
  FramePtr frame = make_frame();
  SwsContextPtr to_rgb;
  auto receive = [&] {
    for (;;) {
      const int ret = avcodec_receive_frame(decoder.get(), frame.get());
      if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return;
      check_av(ret, file, "decode");
      out.pts.push_back(frame->best_effort_timestamp);
      const auto format = static_cast<AVPixelFormat>(frame->format);
      if (!to_rgb) {
        to_rgb.reset(sws_getContext(frame->width, frame->height, format, frame->width, frame->height,
                                    AV_PIX_FMT_RGB24, SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, nullptr,
                                    nullptr, nullptr));
        if (format == AV_PIX_FMT_YUV420P) {
          const int matrix = frame->colorspace == AVCOL_SPC_BT709 ? SWS_CS_ITU709 : SWS_CS_ITU601;
          const int full = frame->color_range == AVCOL_RANGE_JPEG ? 1 : 0;
          const int* table = sws_getCoefficients(matrix);
          sws_setColorspaceDetails(to_rgb.get(), table, full, table, 1, 0, 1 << 16, 1 << 16);
        }
      }
      std::vector<std::uint8_t> rgb(static_cast<std::size_t>(frame->width) * frame->height * 3);
      std::uint8_t* planes[1] = {rgb.data()};
      const int strides[1] = {3 * frame->width};
      sws_scale(to_rgb.get(), frame->data, frame->linesize, 0, frame->height, planes, strides);
      out.rgb.push_back(std::move(rgb));
    }
  };
  while (av_read_frame(raw, packet.get()) >= 0) {
    if (packet->stream_index == index) check_av(avcodec_send_packet(decoder.get(), packet.get()), file, "send");
    av_packet_unref(packet.get());
    receive();
  }
  check_av(avcodec_send_packet(decoder.get(), nullptr), file, "flush");
  receive();
  return out;
}

std::vector<double> mean_abs_error(const VideoFrames& expected, const DecodedVideo& decoded) {
  std::vector<double> sum(3, 0.0);
  std::size_t pixels = 0;
  const int frames = std::min<int>(expected.count, static_cast<int>(decoded.rgb.size()));
  for (int t = 0; t < frames; ++t) {
    const std::uint8_t* want = expected.frame(t);
    const std::vector<std::uint8_t>& got = decoded.rgb[t];
    for (std::size_t i = 0; i < expected.frame_bytes() && i < got.size(); ++i) {
      sum[i % 3] += std::abs(int(want[i]) - int(got[i]));
    }
    pixels += expected.frame_bytes() / 3;
  }
  for (double& s : sum) s /= static_cast<double>(std::max<std::size_t>(pixels, 1));
  return sum;
}

std::string read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string run_in_child(const std::function<void()>& body) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::close(fds[0]);
    std::string result = "ok";
    try {
      body();
    } catch (const InterruptedError& e) {
      result = std::string("InterruptedError: ") + e.what();
    } catch (const OutputError& e) {
      result = std::string("OutputError: ") + e.what();
    } catch (const std::exception& e) {
      result = std::string("other: ") + e.what();
    }
    const ssize_t written = ::write(fds[1], result.data(), result.size());
    ::_exit(written == static_cast<ssize_t>(result.size()) ? 0 : 1);
  }
  ::close(fds[1]);
  std::string result;
  char buffer[512];
  ssize_t n;
  while ((n = ::read(fds[0], buffer, sizeof buffer)) > 0) result.append(buffer, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status)) return "crashed";
  return result;
}

}  // namespace soragen::video::test
