// bench_vae: decode timing and memory of the Wan2.1 or Wan2.2 VAE on this machine.
//
//   bench_vae                                   # 5 latent frames at 256x256 (17 frames), fp32
//   bench_vae --dtype bf16 --latent-frames 2
//   bench_vae --memory-check                    # peak RSS for 3 vs 9 latent frames, each in its own process
//   bench_vae --config models/configs/wan2.2-vae.json --memory-check   # the Wan2.2 VAE (16x16 latent at 256 px)
//   bench_vae --tiny-widths 256,128,64,64       # against the tiny preview decoder (taew2_1's widths), best of 5
//
// Weights are random (seeded) with the real config (models/configs/wan2.1-vae.json
// or wan2.2-vae.json; the kind is the config's: only Wan2.2's has dec_dim),
// so the figures are the real model's cost. Frames are converted to uint8 and
// dropped as they come, as the pipeline's writer would take them.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "soragen/error.h"
#include <nlohmann/json.hpp>

#include "io/json_file.h"
#include "vae/frames.h"
#include "vae/tiny_decoder.h"
#include "vae/wan22_vae.h"
#include "vae/wan_vae.h"

extern char** environ;

namespace {

struct Options {
  std::string config = SORAGEN_SOURCE_MODELS_DIR "/configs/wan2.1-vae.json";
  int64_t latent_frames = 5;
  int64_t height = 256;
  int64_t width = 256;
  std::string dtype = "fp32";
  int threads = 0;  // 0: all cores
  int64_t tile = 0;
  bool memory_check = false;
  int64_t memory_size = 128;
  std::string vae_kind = "auto";  // auto: wan2.2 when the config has dec_dim
  std::vector<int64_t> tiny_widths;  // set: time the tiny preview decoder beside the VAE
};

void usage() {
  std::fprintf(stderr,
               "usage: bench_vae [--config PATH] [--latent-frames N] [--height H] [--width W]\n"
               "                 [--dtype fp32|bf16] [--threads N] [--tile LATENT_PIXELS]\n"
               "                 [--memory-check [--memory-size PIXELS]] [--vae-kind auto|wan2.1|wan2.2]\n"
               "                 [--tiny-widths N0,N1,N2,N3]\n"
               "--vae-kind auto (default): wan2.2 when the config has a dec_dim key, else wan2.1.\n"
               "--tiny-widths: the VAE's whole decode against a tiny preview decoder of these widths that makes\n"
               "its frames (TAEHV design), best of 5 each.\n"
               "Sizes are pixels; the Wan2.2 VAE needs multiples of 16 and has no tiling.\n");
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw soragen::UsageError(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--config") o.config = value();
    else if (arg == "--latent-frames") o.latent_frames = std::stoll(value());
    else if (arg == "--height") o.height = std::stoll(value());
    else if (arg == "--width") o.width = std::stoll(value());
    else if (arg == "--dtype") o.dtype = value();
    else if (arg == "--threads") o.threads = std::stoi(value());
    else if (arg == "--tile") o.tile = std::stoll(value());
    else if (arg == "--memory-check") o.memory_check = true;
    else if (arg == "--memory-size") o.memory_size = std::stoll(value());
    else if (arg == "--vae-kind") o.vae_kind = value();
    else if (arg == "--tiny-widths") {
      const std::string text = value();
      for (size_t start = 0; start <= text.size();) {
        const size_t comma = std::min(text.find(',', start), text.size());
        o.tiny_widths.push_back(std::stoll(text.substr(start, comma - start)));
        start = comma + 1;
      }
      if (o.tiny_widths.size() != 4) throw soragen::UsageError("--tiny-widths takes four widths, e.g. 256,128,64,64");
    }
    else if (arg == "--help" || arg == "-h") {
      usage();
      std::exit(0);
    } else {
      throw soragen::UsageError("unknown argument " + arg);
    }
  }
  if (o.dtype != "fp32" && o.dtype != "bf16") throw soragen::UsageError("--dtype must be fp32 or bf16");
  if (o.vae_kind == "auto") {
    o.vae_kind = soragen::io::read_json_object(o.config, "config '" + o.config + "'").contains("dec_dim") ? "wan2.2"
                                                                                                     : "wan2.1";
  }
  if (o.vae_kind != "wan2.1" && o.vae_kind != "wan2.2") throw soragen::UsageError("--vae-kind must be auto, wan2.1 or wan2.2");
  const int64_t stride = o.vae_kind == "wan2.2" ? 16 : soragen::vae::VaeConfig::from_file(o.config).spatial_factor();
  if (o.latent_frames < 1 || o.height % stride || o.width % stride || o.memory_size % stride) {
    throw soragen::UsageError("need >= 1 latent frame and sizes divisible by " + std::to_string(stride));
  }
  if (o.vae_kind == "wan2.2" && o.tile) throw soragen::UsageError("the Wan2.2 VAE has no tiled decode");
  return o;
}

double peak_rss_mib(const rusage& usage) { return static_cast<double>(usage.ru_maxrss) / 1024.0; }

// Decodes o.latent_frames with the `Vae` kind's streamed decode, printing each
// chunk's time; WanVAE and WanVAE22 share this face (decode_frames, to).
template <typename Vae, typename Config, typename DecodeOpts>
int decode_with(const Options& o, const Config& config, int64_t z_dim, int64_t stride, const DecodeOpts& options) {
  using clock = std::chrono::steady_clock;
  at::manual_seed(0);
  Vae vae(config);
  const auto dtype = o.dtype == "bf16" ? at::kBFloat16 : at::kFloat;
  vae->to(dtype);
  c10::InferenceMode inference;
  const at::Tensor z = at::randn({1, z_dim, o.latent_frames, o.height / stride, o.width / stride});

  const int64_t frames = 1 + 4 * (o.latent_frames - 1);
  std::printf("decode %s %s: %lld latent frames [%lld, %lld, %lld] -> %lld frames of %lldx%lld, %d threads%s\n",
              o.vae_kind.c_str(), o.dtype.c_str(), static_cast<long long>(o.latent_frames),
              static_cast<long long>(z_dim), static_cast<long long>(o.height / stride),
              static_cast<long long>(o.width / stride), static_cast<long long>(frames),
              static_cast<long long>(o.width), static_cast<long long>(o.height), at::get_num_threads(),
              o.tile ? (", tiles of " + std::to_string(o.tile * 8) + " px").c_str() : "");
  std::fflush(stdout);
  const auto start = clock::now();
  auto last = start;
  double first_chunk_s = 0;
  vae->decode_frames(z, [&](const at::Tensor& chunk, int64_t first) {
    soragen::VideoFrames dropped = soragen::vae::to_video_frames(chunk[0]);
    const auto now = clock::now();
    const double s = std::chrono::duration<double>(now - last).count();
    if (first == 0) first_chunk_s = s;
    std::printf("  frames %lld..%lld: %.2f s\n", static_cast<long long>(first),
                static_cast<long long>(first + dropped.count - 1), s);
    std::fflush(stdout);
    last = now;
  }, options);
  const double total = std::chrono::duration<double>(clock::now() - start).count();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("total %.1f s, %.2f s per output frame (%.2f s per frame after the first chunk), peak RSS %.0f MiB\n",
              total, total / static_cast<double>(frames),
              frames > 1 ? (total - first_chunk_s) / static_cast<double>(frames - 1) : 0.0, peak_rss_mib(usage));
  return 0;
}

// Seconds of the fastest of `runs` calls of `decode`: the machine may be busy.
template <typename Decode>
double best_of(int runs, const Decode& decode) {
  double best = 1e30;
  for (int i = 0; i < runs; ++i) {
    const auto start = std::chrono::steady_clock::now();
    decode();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

// The VAE's decode against a tiny decoder of o.tiny_widths making the same
// frames (its latent channels, 2x space upscales for the VAE's stride, 4x in
// time), both with random weights and frames converted to uint8 as they come.
template <typename Vae, typename Config, typename DecodeOpts>
int compare_tiny(const Options& o, const Config& config, int64_t z_dim, int64_t stride, const DecodeOpts& options) {
  at::manual_seed(0);
  Vae vae(config);
  soragen::vae::TinyDecoderConfig tiny_config;
  tiny_config.latent_channels = z_dim;
  std::copy(o.tiny_widths.begin(), o.tiny_widths.end(), tiny_config.widths.begin());
  tiny_config.patch_size = stride > 8 ? stride / 8 : 1;
  for (size_t stage = 0; stage < 3; ++stage) tiny_config.space_upscale[stage] = (int64_t{4} >> stage) < stride;
  soragen::vae::TinyDecoder tiny(tiny_config);
  if (tiny_config.spatial_factor() != stride) throw soragen::UsageError("no tiny decoder of 3 stages makes this stride");
  c10::InferenceMode inference;
  const at::Tensor z = at::randn({1, z_dim, o.latent_frames, o.height / stride, o.width / stride});
  const double vae_s = best_of(5, [&] {
    vae->decode_frames(z, [&](const at::Tensor& chunk, int64_t) { soragen::vae::to_video_frames(chunk[0]); }, options);
  });
  const double tiny_s = best_of(5, [&] {
    tiny->decode_frames(z, [&](const at::Tensor& frame, int64_t) {
      soragen::vae::to_video_frames(frame.mul(2.0).sub(1.0).unsqueeze(2)[0]);
    });
  });
  int64_t parameters = 0;
  for (const at::Tensor& p : tiny->parameters()) parameters += p.numel();
  std::printf("%lld frames of %lldx%lld, %d threads: VAE %.3f s, tiny decoder (widths %lld,%lld,%lld,%lld, %.2fM "
              "parameters) %.3f s: %.1fx faster\n",
              static_cast<long long>(1 + 4 * (o.latent_frames - 1)), static_cast<long long>(o.width),
              static_cast<long long>(o.height), at::get_num_threads(), vae_s,
              static_cast<long long>(o.tiny_widths[0]), static_cast<long long>(o.tiny_widths[1]),
              static_cast<long long>(o.tiny_widths[2]), static_cast<long long>(o.tiny_widths[3]),
              static_cast<double>(parameters) / 1e6, tiny_s, vae_s / tiny_s);
  return 0;
}

int run_decode(const Options& o) {
  if (o.vae_kind == "wan2.2") {
    const auto config = soragen::vae::Vae22Config::from_file(o.config);
    if (!o.tiny_widths.empty()) {
      return compare_tiny<soragen::vae::WanVAE22>(o, config, config.common.z_dim, config.spatial_factor(),
                                                 soragen::vae::Vae22DecodeOptions{});
    }
    return decode_with<soragen::vae::WanVAE22>(o, config, config.common.z_dim, config.spatial_factor(),
                                              soragen::vae::Vae22DecodeOptions{});
  }
  const auto config = soragen::vae::VaeConfig::from_file(o.config);
  soragen::vae::DecodeOptions options;
  options.tiling.tile = o.tile;
  if (!o.tiny_widths.empty()) return compare_tiny<soragen::vae::WanVAE>(o, config, config.z_dim, config.spatial_factor(), options);
  return decode_with<soragen::vae::WanVAE>(o, config, config.z_dim, config.spatial_factor(), options);
}

// Runs this program again for one decode and returns the child's peak RSS.
double child_peak_mib(const char* self, const Options& o, int64_t latent_frames) {
  std::vector<std::string> args{self, "--config", o.config, "--latent-frames", std::to_string(latent_frames),
                                "--height", std::to_string(o.memory_size), "--width", std::to_string(o.memory_size),
                                "--dtype", o.dtype, "--threads", std::to_string(o.threads),
                                "--vae-kind", o.vae_kind};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  // /proc/self/exe: argv[0] may be a bare name found through PATH.
  if (posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv.data(), environ) != 0) {
    throw std::runtime_error("cannot start " + std::string(self));
  }
  int status = 0;
  rusage usage{};
  if (wait4(pid, &status, 0, &usage) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error("child decode failed");
  }
  return peak_rss_mib(usage);
}

int run_memory_check(const char* self, const Options& o) {
  std::printf("memory check: %s VAE, %lldx%lld, %s, each decode in its own process\n", o.vae_kind.c_str(),
              static_cast<long long>(o.memory_size), static_cast<long long>(o.memory_size), o.dtype.c_str());
  std::fflush(stdout);
  const double small = child_peak_mib(self, o, 3);
  const double large = child_peak_mib(self, o, 9);
  // What holding every decoded frame's last-stage activations would add:
  // C channels x (33 - 9) more frames x H x W x 4 bytes, per live tensor.
  // Wan2.1: C = 96 at full size; Wan2.2: C = dec_dim 256 before the 2x2
  // unpatchify, so at (H/2) x (W/2).
  const bool wan22 = o.vae_kind == "wan2.2";
  const double channels = wan22 ? 256.0 : 96.0;
  const double pixels = static_cast<double>(o.memory_size * o.memory_size) / (wan22 ? 4.0 : 1.0);
  const double frame_mib = channels * pixels * 4.0 / (1024.0 * 1024.0);
  std::printf("peak RSS: 3 latent frames (9 frames) %.0f MiB, 9 latent frames (33 frames) %.0f MiB, growth %.0f MiB\n",
              small, large, large - small);
  std::printf("(one last-stage %.0f-channel activation frame is %.1f MiB; holding 24 more frames would add >= %.0f MiB)\n",
              channels, frame_mib, 24 * frame_mib);
  const bool flat = large - small < 0.25 * 24 * frame_mib;
  std::printf("%s\n", flat ? "FLAT: peak memory does not grow with the frame count"
                           : "NOT FLAT: peak memory grows with the frame count");
  return flat ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    at::set_num_threads(o.threads > 0 ? o.threads : static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN))));
    if (o.memory_check) return run_memory_check(argv[0], o);
    return run_decode(o);
  } catch (const soragen::UsageError& e) {
    std::fprintf(stderr, "bench_vae: %s\n", e.what());
    usage();
    return 2;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "bench_vae: %s\n", e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_vae: %s\n", e.what());
    return 1;
  }
}
