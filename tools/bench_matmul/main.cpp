// Times y = x W^T + b on the CPU for one shape (by default a Wan2.1 1.3B FFN
// up-projection over the tokens of a 17-frame 256x256 CFG batch) in each
// weight format libtorch has a kernel for here:
//   fp32      at::linear (oneDNN / MKL sgemm)
//   bf16      at::linear on bf16 operands (oneDNN's avx512_bf16 kernel where
//             the CPU has one; a slow fallback elsewhere)
//   int8-dyn  fbgemm: int8 weights with one scale, the activation quantized
//             per call (PyTorch's dynamic quantization of nn.Linear)
//   fp16-w    fbgemm: fp16 weights, fp32 activations and accumulation
// Prints GFLOP/s (median of --repeat, rounds alternating over the formats so
// that a machine's drift hits them alike) and each one's error against a
// float64 product. The DiT keeps a format only if it is faster at equal
// output: see README's "Quantized weights".
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/runtime.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Format {
  std::string name;
  std::function<at::Tensor()> run;
  std::vector<double> seconds;
};

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int64_t m = 2 * 1024, k = 1536, n = 8960;
  int threads = 2, repeat = 5, rounds = 2;
  CLI::App app{"Times one Linear shape on the CPU in fp32, bf16, fbgemm int8 (dynamic) and fbgemm fp16 weights."};
  app.add_option("-m,--rows", m, "activation rows (tokens)")->capture_default_str();
  app.add_option("-k,--in", k, "input features")->capture_default_str();
  app.add_option("-n,--out", n, "output features")->capture_default_str();
  app.add_option("--threads", threads, "CPU threads")->capture_default_str();
  app.add_option("--repeat", repeat, "timed calls per format and round")->capture_default_str();
  app.add_option("--rounds", rounds, "rounds over every format")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  at::set_num_threads(threads);

  at::manual_seed(1);
  const at::Tensor x = at::randn({m, k});
  const at::Tensor w = at::randn({n, k}) * 0.02;
  const at::Tensor bias = at::randn({n}) * 0.01;
  const at::Tensor reference = at::linear(x.to(at::kDouble), w.to(at::kDouble), bias.to(at::kDouble));

  std::vector<Format> formats;
  formats.push_back({"fp32", [&] { return at::linear(x, w, bias); }, {}});
  const at::Tensor xb = x.to(at::kBFloat16), wb = w.to(at::kBFloat16), bb = bias.to(at::kBFloat16);
  formats.push_back({"bf16", [&] { return at::linear(xb, wb, bb); }, {}});
  // fbgemm needs AVX2 and a libtorch built with it; its calls throw otherwise.
  bool fbgemm = true;
  at::Tensor q, col_offsets, packed, packed16;
  double scale = 0;
  int64_t zero_point = 0;
  try {
    std::tie(q, col_offsets, scale, zero_point) = at::fbgemm_linear_quantize_weight(w);
    packed = at::fbgemm_pack_quantized_matrix(q);
    packed16 = at::fbgemm_pack_gemm_matrix_fp16(w);
  } catch (const c10::Error& e) {
    fbgemm = false;
    std::printf("fbgemm is not available: %s\n", e.what_without_backtrace());
  }
  if (fbgemm) {
    formats.push_back({"int8-dyn", [&] {
                         return at::fbgemm_linear_int8_weight_fp32_activation(x, q, packed, col_offsets, scale,
                                                                             zero_point, bias);
                       }, {}});
    formats.push_back({"fp16-w", [&] { return at::fbgemm_linear_fp16_weight_fp32_activation(x, packed16, bias); }, {}});
  }

  std::printf("y[%lld, %lld] = x[%lld, %lld] W^T, %d threads, fast bf16 matmul: %s, fbgemm: %s\n",
              static_cast<long long>(m), static_cast<long long>(n), static_cast<long long>(m),
              static_cast<long long>(k), threads, soragen::core::cpu_has_fast_bf16_matmul() ? "yes" : "no",
              fbgemm ? "yes" : "no");
  for (Format& f : formats) f.run();  // warm-up: packing, oneDNN primitives
  for (int r = 0; r < rounds; ++r) {
    for (Format& f : formats) {
      for (int i = 0; i < repeat; ++i) {
        const auto start = Clock::now();
        f.run();
        f.seconds.push_back(std::chrono::duration<double>(Clock::now() - start).count());
      }
    }
  }
  const double flop = 2.0 * static_cast<double>(m) * static_cast<double>(k) * static_cast<double>(n);
  const double fp32_s = median(formats.front().seconds);
  for (Format& f : formats) {
    const at::Tensor y = f.run().to(at::kDouble);
    const double error = ((y - reference).norm() / reference.norm()).item<double>();
    const double s = median(f.seconds);
    std::printf("%-9s %8.1f GFLOP/s  %7.4f s  %5.2fx fp32  relative error %.2e\n", f.name.c_str(), flop / s / 1e9,
                s, fp32_s / s, error);
  }
  return 0;
}
