// bench_t2v: one text-to-video render end to end on this machine, with the
// real model sizes and random weights: umT5 text encoding, the denoising
// loop (CFG batch of 2, the pipeline's own VideoGenerator), the VAE decode to
// host frames. Prints seconds and peak device memory per stage, seconds per
// step, and the DiT's achieved FLOP/s.
//
//   bench_t2v --device cuda                              # 1.3B, 81 frames 832x480, 10 steps, bf16
//   bench_t2v --device cuda --dit-weights dit.safetensors  # the DiT weights of another run
//   bench_t2v --device cpu --frames 9 --width 256 --height 256 --steps 2 --encoder-layers 2
//
// Weights are filled in place on the device (bench_common), so no 14 GB
// checkpoint is written or read; --dit-weights loads a checkpoint instead,
// so that a side-by-side run of another implementation uses the very same
// DiT. Token ids are random: the tokenizer and the MP4 writer, host-side and
// small, are left out. The last line is `RESULT {json}` for scripts.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "bench_common/random_weights.h"
#include "core/device_memory.h"
#include "core/runtime.h"
#include "dit/config.h"
#include "dit/flops.h"
#include "dit/wan_model.h"
#include "io/tensor_source.h"
#include "pipeline/video_generator.h"
#include "soragen/error.h"
#include "text_encoder/text_encoder.h"
#include "text_encoder/umt5.h"
#include "vae/vae_config.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string dit_config = SORAGEN_SOURCE_MODELS_DIR "/configs/wan2.1-t2v-1.3b.json";
  std::string encoder_config = SORAGEN_SOURCE_MODELS_DIR "/configs/umt5-xxl.json";
  std::string vae_config = SORAGEN_SOURCE_MODELS_DIR "/configs/wan2.1-vae.json";
  std::string dit_weights;  // empty: random
  std::string device = "cuda";
  std::string dtype = "auto";
  int frames = 81;
  int height = 480;
  int width = 832;
  int steps = 10;
  std::string sampler = "unipc";
  int64_t context_len = 48;
  int64_t negative_context_len = 12;
  int64_t encoder_layers = 0;  // 0: as the config says
  int threads = 0;
  std::uint64_t seed = 0;
  bool vae_tile = false;
};

// Waits for the device: a value read back is the portable way.
void sync(const at::Tensor& t) { (void)t.sum().item<double>(); }

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double peak_rss_gib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / (1024.0 * 1024.0);
}

// Peak device memory of the stage that just ended, -1 off CUDA; then starts anew.
int64_t stage_peak(const c10::Device& device) {
  const int64_t peak = soragen::core::peak_device_memory(device).value_or(-1);
  soragen::core::reset_peak_device_memory(device);
  return peak;
}

std::string gib(int64_t bytes) {
  if (bytes < 0) return "n/a";
  char text[32];
  std::snprintf(text, sizeof text, "%.2f GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  return text;
}

// A text encoder with the config's shapes; its weights are then filled in
// place on the device. The source hands over the uninitialised tensors of a
// template module (the pages are never touched before the copy).
std::unique_ptr<soragen::text_encoder::TextEncoder> random_encoder(const soragen::text_encoder::UMT5Config& config,
                                                                   const c10::Device& device, at::ScalarType dtype,
                                                                   std::uint64_t seed) {
  soragen::text_encoder::UMT5BuildOptions build;
  build.tensors = at::TensorOptions().dtype(dtype);
  const soragen::text_encoder::UMT5Encoder shapes(config, build);
  std::map<std::string, at::Tensor> tensors;
  for (const auto& item : shapes->named_parameters(/*recurse=*/true)) tensors[item.key()] = item.value();
  const soragen::io::MemorySource source("random umT5", std::move(tensors));
  soragen::text_encoder::TextEncoderOptions options;
  options.device = device;
  options.dtype = dtype;
  auto encoder = std::make_unique<soragen::text_encoder::TextEncoder>(config, source, options);
  soragen::bench::fill_random_weights(*encoder->module(), seed);
  return encoder;
}

int run(const Options& o) {
  const c10::Device device = soragen::core::parse_device(o.device);
  const at::ScalarType dtype = soragen::core::parse_dtype(o.dtype, device);
  const int threads = soragen::core::set_threads(o.threads);
  soragen::text_encoder::UMT5Config encoder_config =
      soragen::text_encoder::UMT5Config::from_file(o.encoder_config);
  if (o.encoder_layers > 0) encoder_config.num_layers = o.encoder_layers;
  const soragen::dit::DitConfig dit_config = soragen::dit::DitConfig::from_file(o.dit_config);
  const soragen::vae::VaeConfig vae_config = soragen::vae::VaeConfig::from_file(o.vae_config);
  if (o.context_len > dit_config.text_len || o.negative_context_len > dit_config.text_len ||
      o.context_len < 1 || o.negative_context_len < 1) {
    throw soragen::UsageError("context lengths must be in [1, text_len = " + std::to_string(dit_config.text_len) +
                              "]");
  }

  const torch::NoGradGuard no_grad;
  const auto build_start = Clock::now();
  auto encoder = random_encoder(encoder_config, device, dtype, o.seed);
  soragen::dit::WanModel dit{nullptr};
  if (o.dit_weights.empty()) {
    dit = soragen::dit::WanModel(dit_config, dtype);
    dit->to(device);
    soragen::bench::fill_random_weights(*dit, o.seed + 1);
  } else {
    soragen::dit::DitLoadOptions load;
    load.weight_dtype = dtype;
    dit = soragen::dit::load_wan_model(dit_config, *soragen::io::open_weights(o.dit_weights), soragen::Logger(), load);
  }
  dit->run_options().compute_dtype = dtype;
  // The reference runs the VAE in float32 whatever the DiT's dtype.
  soragen::vae::WanVAE vae(vae_config);
  vae->to(device);
  soragen::bench::fill_random_weights(*vae, o.seed + 2);
  soragen::pipeline::VideoGenerator t2v(std::move(encoder), std::move(dit), std::move(vae), device);
  const double build_s = seconds_since(build_start);
  std::printf("bench_t2v: %s + %s + %s on %s, %s, %d CPU threads; built in %.1f s%s\n", o.encoder_config.c_str(),
              o.dit_config.c_str(), o.vae_config.c_str(), device.str().c_str(),
              soragen::core::dtype_name(dtype).c_str(), threads, build_s,
              o.dit_weights.empty() ? "" : (" (DiT from " + o.dit_weights + ")").c_str());
  std::fflush(stdout);

  const c10::InferenceMode inference;
  at::manual_seed(o.seed + 3);
  const auto prompt_ids = [&](int64_t real_tokens) {
    at::Tensor ids = at::randint(1, encoder_config.vocab, {1, encoder_config.text_len}, at::kLong);
    at::Tensor mask = at::zeros({1, encoder_config.text_len}, at::kLong);
    mask.narrow(1, 0, real_tokens).fill_(1);
    ids.narrow(1, real_tokens, encoder_config.text_len - real_tokens).zero_();
    return std::make_pair(ids, mask);
  };
  const auto cond = prompt_ids(o.context_len);
  const auto uncond = prompt_ids(o.negative_context_len);
  const auto shape = t2v.latent_shape(o.frames, o.height, o.width);
  const at::Tensor noise = t2v.initial_noise(o.seed, shape);

  // Warm-up: one encode and one step, so that library handles, kernels and
  // the allocator's pool are set up before anything is timed.
  {
    const at::Tensor c = t2v.encode(cond.first, cond.second);
    soragen::pipeline::SamplingSettings one;
    one.sampler = o.sampler;
    one.steps = 1;
    sync(t2v.denoise(noise, c, c, one));
  }
  stage_peak(device);

  nlohmann::json result;
  auto start = Clock::now();
  const at::Tensor context = t2v.encode(cond.first, cond.second);
  const at::Tensor context_null = t2v.encode(uncond.first, uncond.second);
  sync(context_null);
  const double encode_s = seconds_since(start);
  const int64_t encode_peak = stage_peak(device);
  std::printf("text encoding: %.3f s for 2 prompts of %lld and %lld tokens (peak device %s)\n", encode_s,
              static_cast<long long>(o.context_len), static_cast<long long>(o.negative_context_len),
              gib(encode_peak).c_str());
  std::fflush(stdout);

  soragen::pipeline::SamplingSettings settings;
  settings.sampler = o.sampler;
  settings.steps = o.steps;
  start = Clock::now();
  const at::Tensor latent = t2v.denoise(noise, context, context_null, settings);
  sync(latent);
  const double denoise_s = seconds_since(start);
  const int64_t denoise_peak = stage_peak(device);
  const int64_t tokens = soragen::dit::token_count(t2v.dit()->config(), shape[1], shape[2], shape[3]);
  const int64_t text_rows =
      soragen::dit::cross_attention_rows(t2v.dit()->config(), {context.size(0), context_null.size(0)});
  const double step_flops =
      static_cast<double>(soragen::dit::dit_forward_flops(t2v.dit()->config(), tokens, /*batch=*/2, text_rows).total());
  const double step_s = denoise_s / o.steps;
  std::printf("denoising: %.2f s for %d steps, %.3f s per step (CFG batch of 2, %lld tokens), %.1f TFLOP/s "
              "(peak device %s)\n",
              denoise_s, o.steps, step_s, static_cast<long long>(tokens), step_flops / step_s / 1e12,
              gib(denoise_peak).c_str());
  std::fflush(stdout);

  start = Clock::now();
  const at::Tensor video =
      t2v.decode(latent, o.vae_tile ? soragen::vae::TileOptions::automatic() : soragen::vae::TileOptions{});
  const double decode_s = seconds_since(start);
  const int64_t decode_peak = stage_peak(device);
  std::printf("VAE decode: %.2f s for %lld frames of %lldx%lld to host memory (peak device %s)\n", decode_s,
              static_cast<long long>(video.size(1)), static_cast<long long>(video.size(3)),
              static_cast<long long>(video.size(2)), gib(decode_peak).c_str());
  // Flat memory: a decode of the first latent frames alone should peak as
  // high as the whole video's, since frames stream out chunk by chunk.
  const int64_t short_latents = std::min<int64_t>(3, latent.size(1));
  t2v.decode(latent.narrow(1, 0, short_latents));
  const int64_t short_decode_peak = stage_peak(device);
  std::printf("VAE decode of the first %lld latent frames alone: peak device %s (flat memory: about the same)\n",
              static_cast<long long>(short_latents), gib(short_decode_peak).c_str());
  const double total_s = encode_s + denoise_s + decode_s;
  std::printf("end to end: %.2f s (%d steps); with 50 steps: %.1f s; peak host RSS %.1f GiB\n", total_s, o.steps,
              encode_s + 50 * step_s + decode_s, peak_rss_gib());

  result["impl"] = "soragen";
  result["device"] = device.str();
  result["dtype"] = soragen::core::dtype_name(dtype);
  result["frames"] = o.frames;
  result["height"] = o.height;
  result["width"] = o.width;
  result["tokens"] = tokens;
  result["steps"] = o.steps;
  result["sampler"] = o.sampler;
  result["dit_weights"] = o.dit_weights.empty() ? "random" : o.dit_weights;
  result["encode_seconds"] = encode_s;
  result["denoise_seconds"] = denoise_s;
  result["step_seconds"] = step_s;
  result["step_flops"] = step_flops;
  result["decode_seconds"] = decode_s;
  result["end_to_end_seconds"] = total_s;
  result["peak_bytes"] = {{"encode", encode_peak},
                          {"denoise", denoise_peak},
                          {"decode", decode_peak},
                          {"decode_first_" + std::to_string(short_latents) + "_latent_frames", short_decode_peak}};
  std::printf("RESULT %s\n", result.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"bench_t2v: a text-to-video render end to end with random full-size weights", "bench_t2v"};
  app.add_option("--dit-config", o.dit_config, "DiT config JSON")->check(CLI::ExistingFile)->capture_default_str();
  app.add_option("--encoder-config", o.encoder_config, "umT5 config JSON")->check(CLI::ExistingFile)
      ->capture_default_str();
  app.add_option("--vae-config", o.vae_config, "VAE config JSON")->check(CLI::ExistingFile)->capture_default_str();
  app.add_option("--dit-weights", o.dit_weights, "load the DiT from this checkpoint instead of random weights")
      ->check(CLI::ExistingFile);
  app.add_option("--device", o.device, "cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--dtype", o.dtype, "auto (bf16 on CUDA, fp32 on CPU), bf16, fp16 or fp32")->capture_default_str();
  app.add_option("--frames", o.frames, "video frames (4k+1)")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--height", o.height, "pixels, a multiple of 16")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--width", o.width, "pixels, a multiple of 16")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--steps", o.steps, "timed denoising steps")->check(CLI::Range(1, 1000))->capture_default_str();
  app.add_option("--sampler", o.sampler, "unipc, dpm++ or euler")->capture_default_str();
  app.add_option("--context-len", o.context_len, "prompt tokens")->capture_default_str();
  app.add_option("--negative-context-len", o.negative_context_len, "negative prompt tokens")->capture_default_str();
  app.add_option("--encoder-layers", o.encoder_layers, "umT5 blocks to build, 0: the config's (dry runs)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--threads", o.threads, "CPU threads, 0: all cores")->capture_default_str();
  app.add_option("--seed", o.seed, "seed of the weights and inputs")->capture_default_str();
  app.add_flag("--vae-tile", o.vae_tile, "decode in spatial tiles");
  CLI11_PARSE(app, argc, argv);
  if ((o.frames - 1) % 4 != 0) {
    std::fprintf(stderr, "bench_t2v: --frames %d: must be 4k+1\n", o.frames);
    return 2;
  }
  if (o.height % 16 != 0 || o.width % 16 != 0) {
    std::fprintf(stderr, "bench_t2v: --width/--height %dx%d: must be multiples of 16\n", o.width, o.height);
    return 2;
  }
  try {
    return run(o);
  } catch (const soragen::Error& e) {
    std::fprintf(stderr, "bench_t2v: %s\n", e.what());
    return static_cast<int>(e.exit_code());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_t2v: %s\n", e.what());
    return 1;
  }
}
