// bench_text_encoder: times the umT5 encoder on one 512-token prompt at the
// XXL shape (models/configs/umt5-xxl.json) with random weights, and prints
// the seconds and the process's peak memory.
//
//   bench_text_encoder --dtype bf16 --threads 2               # all 24 layers (11.4 GB)
//   bench_text_encoder --dtype fp32 --layers 4 --threads 2    # extrapolated to 24
//
// XXL in fp32 is 22.7 GB of weights: with --layers N < 24 the tool builds N
// layers (plus the full 256384-row embedding), times them and extrapolates
// the blocks linearly to 24. Run one dtype per process: ru_maxrss is the
// process's high-water mark.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "core/runtime.h"
#include "soragen/error.h"
#include "text_encoder/umt5.h"
#include "text_encoder/umt5_config.h"

namespace {

using soragen::text_encoder::UMT5Config;
using soragen::text_encoder::UMT5Encoder;

struct Options {
  std::string dtype = "bf16";
  std::string matmul = "auto";  // bf16 matrix products: auto | native | fp32
  int64_t layers = 0;  // 0: as the config says
  int64_t tokens = 512;
  int threads = 0;     // 0: all cores
  int repeat = 3;
  std::string config = std::string(SORAGEN_SOURCE_MODELS_DIR) + "/configs/umt5-xxl.json";
};

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "bench_text_encoder: " << problem << "\n"
            << "usage: bench_text_encoder [--dtype bf16|fp32] [--layers N] [--tokens N] [--threads N]\n"
            << "                          [--repeat N] [--matmul auto|native|fp32] [--config umt5-xxl.json]\n";
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) usage("missing value after " + arg);
    const std::string value = argv[++i];
    try {
      if (arg == "--dtype") o.dtype = value;
      else if (arg == "--layers") o.layers = std::stoll(value);
      else if (arg == "--tokens") o.tokens = std::stoll(value);
      else if (arg == "--threads") o.threads = std::stoi(value);
      else if (arg == "--repeat") o.repeat = std::stoi(value);
      else if (arg == "--config") o.config = value;
      else if (arg == "--matmul") o.matmul = value;
      else usage("unknown option " + arg);
    } catch (const std::logic_error&) {
      usage("bad number for " + arg + ": " + value);
    }
  }
  if (o.dtype != "bf16" && o.dtype != "fp32") usage("--dtype must be bf16 or fp32");
  if (o.matmul != "auto" && o.matmul != "native" && o.matmul != "fp32") usage("--matmul must be auto, native or fp32");
  if (o.layers < 0 || o.tokens < 2 || o.repeat < 1) usage("--layers >= 0, --tokens >= 2, --repeat >= 1");
  return o;
}

double peak_rss_gib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / (1024.0 * 1024.0);  // ru_maxrss is in KiB on Linux
}

// Random weights on the reference's init scales (wan t5.py init_weights), so
// activations stay in a realistic range through the layers.
void randomise(UMT5Encoder& encoder, const UMT5Config& c) {
  c10::InferenceMode guard;
  for (const auto& item : encoder->named_parameters()) {
    const std::string& name = item.key();
    at::Tensor p = item.value();
    if (name.find("norm") != std::string::npos) {
      p.fill_(1.0);
    } else if (name == "token_embedding.weight") {
      p.normal_(0.0, 1.0);
    } else if (name.find("pos_embedding") != std::string::npos) {
      p.normal_(0.0, 1.0 / std::sqrt(2.0 * static_cast<double>(c.num_buckets * c.num_heads)));
    } else {
      p.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(p.size(1))));
    }
  }
}

}  // namespace

// GFLOP/s of one [tokens, 4096] x [4096, 4096] product in `dtype`, widened
// to fp32 or not: how much of the (shared) CPU this run actually got.
double probe_gflops(at::ScalarType dtype, bool widen, int64_t tokens) {
  c10::InferenceMode guard;
  const at::Tensor x = at::randn({tokens, 4096}).to(dtype);
  const at::Tensor w = at::randn({4096, 4096}).to(dtype);
  const auto run = [&] { return widen ? at::linear(x.to(at::kFloat), w.to(at::kFloat)).to(dtype) : at::linear(x, w); };
  run();
  const auto start = std::chrono::steady_clock::now();
  run();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return 2.0 * static_cast<double>(tokens) * 4096.0 * 4096.0 / s / 1e9;
}

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress shows up when piped
  try {
    const int threads = soragen::core::set_threads(o.threads);
    UMT5Config config = soragen::text_encoder::UMT5Config::from_file(o.config);
    const int64_t full_layers = config.num_layers;
    if (o.layers > 0) config.num_layers = o.layers;
    const at::ScalarType dtype = o.dtype == "bf16" ? at::kBFloat16 : at::kFloat;

    soragen::text_encoder::UMT5BuildOptions build;
    build.tensors = at::TensorOptions().dtype(dtype);
    build.fp32_matmul = o.matmul == "fp32" || (o.matmul == "auto" && !soragen::core::cpu_has_fast_bf16_matmul());
    const bool widen = build.fp32_matmul && dtype != at::kFloat;
    if (o.dtype == "bf16") {
      std::printf("matrix products: %s (CPU %s a fast bf16 GEMM)\n", widen ? "widened to fp32" : "native bf16",
                  soragen::core::cpu_has_fast_bf16_matmul() ? "has" : "lacks");
    }
    std::printf("probe: %.1f GFLOP/s on a [%lld,4096]x[4096,4096] product\n", probe_gflops(dtype, widen, o.tokens),
                static_cast<long long>(o.tokens));

    auto start = std::chrono::steady_clock::now();
    UMT5Encoder encoder(config, build);
    randomise(encoder, config);
    int64_t params = 0;
    for (const auto& p : encoder->parameters()) params += p.numel();
    const double build_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    // One prompt: tokens-1 random ids, EOS (1), all real (mask 1).
    const at::Tensor ids = at::randint(3, config.vocab, {1, o.tokens}, at::kLong);
    ids[0][o.tokens - 1] = 1;
    const at::Tensor mask = at::ones({1, o.tokens}, at::kLong);

    std::printf("umT5 %s, %lld of %lld layers, %lld tokens, %d threads, %.2f B params (%.2f GiB), built in %.1f s\n",
                o.dtype.c_str(), static_cast<long long>(config.num_layers), static_cast<long long>(full_layers),
                static_cast<long long>(o.tokens), threads, static_cast<double>(params) / 1e9,
                static_cast<double>(params) * static_cast<double>(at::elementSize(dtype)) / (1024.0 * 1024.0 * 1024.0),
                build_s);
    double best = 1e30;
    double total = 0;
    for (int r = 0; r <= o.repeat; ++r) {
      c10::InferenceMode guard;
      start = std::chrono::steady_clock::now();
      const at::Tensor hidden = encoder->forward(ids, mask);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (!hidden.isfinite().all().item<bool>()) throw std::runtime_error("non-finite output");
      std::printf("  run %d%s: %.3f s\n", r, r == 0 ? " (warm-up, not counted)" : "", s);
      if (r == 0) continue;
      best = std::min(best, s);
      total += s;
    }
    const double mean = total / o.repeat;
    std::printf("encode: best %.3f s, mean %.3f s over %d runs (%.3f s per layer)\n", best, mean, o.repeat,
                best / static_cast<double>(config.num_layers));
    if (config.num_layers != full_layers) {
      // The embedding lookup and final norm are microseconds; the blocks are the time.
      std::printf("extrapolated to %lld layers: %.2f s (best), %.2f s (mean)\n", static_cast<long long>(full_layers),
                  best * static_cast<double>(full_layers) / static_cast<double>(config.num_layers),
                  mean * static_cast<double>(full_layers) / static_cast<double>(config.num_layers));
    }
    std::printf("peak memory (ru_maxrss): %.2f GiB\n", peak_rss_gib());
  } catch (const soragen::Error& e) {
    std::cerr << "bench_text_encoder: " << e.what() << "\n";
    return static_cast<int>(e.exit_code());
  } catch (const c10::Error& e) {
    std::cerr << "bench_text_encoder: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "bench_text_encoder: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
