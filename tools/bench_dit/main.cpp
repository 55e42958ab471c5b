// bench_dit: one denoising step of a Wan2.1 or Wan2.2 DiT on this machine.
//
//   bench_dit                                        # 1.3B, 9 frames 256x256, fp32, all cores
//   bench_dit --dtype bf16 --threads 2
//   bench_dit --dtype bf16 --compute-dtype fp32     # bf16 storage, per-layer upcast (CPUs without avx512_bf16)
//   bench_dit --config models/configs/wan2.1-t2v-14b.json --frames 17 --height 480 --width 832
//   bench_dit --config models/configs/wan2.2-ti2v-5b.json --dtype bf16 --frames 5 --height 160 --width 160
//   bench_dit --config models/configs/wan2.2-t2v-a14b.json --dtype bf16 --frames 5 --height 128 --width 128 --layers 8
//
// Wan2.2: a config with out_dim 48 denoises the Wan2.2 VAE's latent (16x
// spatial), the others the Wan2.1 VAE's (8x). ti2v gets per-token timesteps
// [2, seq_len] as the reference's TI2V loop passes them; i2v's latent has all
// in_dim (36) channels, the noise and its conditioning. --layers N builds only
// N of the blocks (a 14B bf16 expert is 28.6 GB, more than a 24 GB machine
// holds) and scales the step time by the full/partial FLOP ratio, reported as
// extrapolated.
//
// A step is what VideoGenerator::denoise runs per timestep: one WanModel forward
// with B = 2 (the CFG batch: the prompt's and the negative prompt's context,
// of different lengths, over the same latent). Weights are random (seeded)
// and built in memory with the config's real sizes, so no file is needed and
// the figures are the real model's cost. FLOP/s counts the matrix products
// of dit_forward_flops for a batch of 2 with the text rows the model
// computes (dit::cross_attention_rows: the longer context plus one row for
// its padding, not the reference's text_len).
//
// Under torchrun (or srun, mpirun) the step runs with Ulysses sequence
// parallelism over every process, as `soragen --parallel ulysses=N` runs it;
// rank 0 prints, and its step time is the job's:
//   torchrun --nproc-per-node 8 --no-python bench_dit --device cuda --dtype bf16 --frames 81 --height 480 --width 832
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "bench_common/random_weights.h"
#include "core/runtime.h"
#include "distributed/ulysses.h"
#include "io/tensor_source.h"
#include "dit/config.h"
#include "dit/flops.h"
#include "dit/quantized_linear.h"
#include "dit/wan_model.h"
#include "core/torch_compat.h"
#include "soragen/distributed.h"
#include "soragen/error.h"

namespace {

struct Options {
  std::string config = SORAGEN_SOURCE_MODELS_DIR "/configs/wan2.1-t2v-1.3b.json";
  int64_t frames = 9;
  int64_t height = 256;
  int64_t width = 256;
  std::string dtype = "fp32";
  std::string compute_dtype;  // empty: as soragen runs `dtype` here (core::matmul_dtype)
  std::string device = "cpu";
  int threads = 0;  // 0: all cores
  int warmup = 1;
  int repeat = 3;
  // Token counts of the two contexts: a prompt and a short negative prompt.
  int64_t context_len = 48;
  int64_t negative_context_len = 12;
  std::uint64_t seed = 0;
  std::string weights;  // empty: seeded random
  int64_t layers = 0;   // 0: all of the config's blocks
  bool breakdown = false;
  bool fp8 = false;   // block weights as e4m3fn codes, one scale each
  bool int8 = false;  // block weights as int8 codes, one scale per row
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string si(double value, const char* unit) {
  const char* prefixes[] = {"", "k", "M", "G", "T", "P"};
  int i = 0;
  while (value >= 1000.0 && i < 5) {
    value /= 1000.0;
    ++i;
  }
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.1f %s%s", value, prefixes[i], unit);
  return buffer;
}

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

// The parts of a forward pass, each named by the debug hook's event that
// ends it (dit/wan_model.cpp emits them in this order within a block).
const char* part_ending_at(const std::string& event) {
  const std::string::size_type dot = event.find('.');
  if (event.rfind("block", 0) != 0 || dot == std::string::npos) {
    return event.rfind("patch_embed", 0) == 0 ? "patch embedding" : "time and text embeddings";
  }
  const std::string what = event.substr(dot + 1);
  if (what == "self_attn.in") return "norm1 + modulation";
  if (what == "q_before_rope" || what == "k_before_rope") return "q/k/v projections + RMSNorm";
  if (what == "q_after_rope" || what == "k_after_rope") return "RoPE";
  if (what == "self_attn.out") return "self-attention scores + o projection";
  if (what == "norm3.out") return "gated residual + norm3";
  if (what == "cross_attn.out") return "cross-attention (projections + scores)";
  if (what == "ffn.out") return "FFN (2 matrix products + GELU)";
  if (what == "out") return "gated residual";
  return "other";
}

// Every block Linear as soragen-convert writes it, kept as codes
// (--fp8-weights keep): fp8 with one scale, multiplied with _scaled_mm where
// the device has an fp8 product; int8 with one scale per row, multiplied by
// the CPU's int8 GEMM; decoded per call elsewhere.
std::string quantize_blocks(soragen::dit::WanModelImpl& model, c10::Device device, bool int8) {
  using soragen::dit::QuantizedMatmul;
  at::ScalarType codes = at::kChar;
  QuantizedMatmul matmul = QuantizedMatmul::upcast;
  if (int8) {
    if (soragen::dit::has_int8_matmul(device)) matmul = QuantizedMatmul::int8_mm;
  } else {
#if SORAGEN_TORCH_HAS_FLOAT8
    codes = at::kFloat8_e4m3fn;
    if (soragen::dit::has_float8_matmul(device)) matmul = QuantizedMatmul::scaled_mm;
#else
    throw soragen::UsageError("--fp8 needs libtorch 2.1 or newer (float8 dtypes); this is " TORCH_VERSION);
#endif
  }
  const torch::NoGradGuard no_grad;
  for (const auto& item : model.named_modules("", false)) {
    auto* linear = dynamic_cast<soragen::dit::LinearImpl*>(item.value().get());
    if (!linear || item.key().rfind("blocks.", 0) != 0) continue;
    const at::Tensor full = linear->weight.to(at::kFloat);
    const std::vector<int64_t> scale_shape = int8 ? std::vector<int64_t>{full.size(0)} : std::vector<int64_t>{1};
    linear->keep_quantized(codes, scale_shape, matmul);
    // Codes and scales in the form the new (empty) weight and scale have.
    const auto [weight, scale] = soragen::dit::requantize(full, linear->weight, linear->scale_weight);
    linear->weight.copy_(weight);
    linear->scale_weight.copy_(scale);
    linear->pack();
  }
  switch (matmul) {
    case QuantizedMatmul::scaled_mm: return "multiplied in fp8 (_scaled_mm)";
    case QuantizedMatmul::int8_mm: return "multiplied in int8 (dynamic activation quantization)";
    case QuantizedMatmul::upcast: break;
  }
  return std::string("decoded per call (no ") + (int8 ? "int8" : "fp8") + " product on " + device.str() + ")";
}

// One forward with timestamps at every debug-hook event: where a step's
// time goes. On a GPU each event waits for the device first.
void print_breakdown(const soragen::dit::WanModel& model, const std::vector<at::Tensor>& inputs, const at::Tensor& t,
                     const std::vector<at::Tensor>& contexts, int64_t tokens, const c10::Device& device,
                     double step_flops, at::ScalarType compute) {
  using clock = std::chrono::steady_clock;
  const auto wait = [&] {
    if (device.is_cuda()) at::empty({1}, at::TensorOptions().device(device)).cpu();
  };
  std::map<std::string, double> seconds;
  std::vector<std::string> order;
  wait();
  auto last = clock::now();
  const auto start = last;
  const soragen::dit::DebugHook hook = [&](const std::string& event, const at::Tensor&) {
    wait();
    const auto now = clock::now();
    const std::string part = part_ending_at(event);
    if (!seconds.count(part)) order.push_back(part);
    seconds[part] += std::chrono::duration<double>(now - last).count();
    last = clock::now();  // the hook's own time is left out
  };
  const std::vector<at::Tensor> out = model->forward(inputs, t, contexts, tokens, hook);
  out[0].sum().item<float>();
  const auto end = clock::now();
  seconds["head + unpatchify"] += std::chrono::duration<double>(end - last).count();
  order.push_back("head + unpatchify");
  double total = 0;
  for (const auto& [part, s] : seconds) total += s;
  std::printf("breakdown of one step (%.2f s timed between the debug hook's events):\n", total);
  for (const std::string& part : order) {
    std::printf("  %-42s %8.3f s  %5.1f%%\n", part.c_str(), seconds[part], 100.0 * seconds[part] / total);
  }
  // The matrix rate this device and dtype reach on the FFN's own product:
  // at::mm, or with int8 block weights the int8 GEMM on its own (the packed
  // weight of ffn.0, one per-tensor quantization of the activation).
  const int64_t rows = 2 * tokens, inner = model->config().dim, cols = model->config().ffn_dim;
  const auto options = at::TensorOptions().dtype(compute).device(device);
  const auto& ffn0 = dynamic_cast<const soragen::dit::LinearImpl&>(*model->named_modules()["blocks.0.ffn.0"]);
  const bool int8 = ffn0.matmul == soragen::dit::QuantizedMatmul::int8_mm;
  // The int8 product takes float32 activations and its own packed weight.
  const at::Tensor a = at::randn({rows, inner}, int8 ? options.dtype(at::kFloat) : options);
  const at::Tensor b = int8 ? at::Tensor() : at::randn({inner, cols}, options);
  double best = 1e30;
  for (int i = 0; i < 5; ++i) {
    wait();
    const auto mm_start = clock::now();
    if (int8) {
      soragen::dit::int8_matmul(a, ffn0.int8_packed).sum().item<float>();
    } else {
      at::mm(a, b).sum().item<float>();
    }
    best = std::min(best, std::chrono::duration<double>(clock::now() - mm_start).count());
  }
  const double gemm_rate = 2.0 * static_cast<double>(rows * inner * cols) / best;
  const double step_rate = step_flops / std::chrono::duration<double>(end - start).count();
  std::printf("%s [%lld x %lld] x [%lld x %lld] in %s: %s; this step's matrix products: %s, %.0f%% of it\n",
              int8 ? "int8 GEMM" : "at::mm", static_cast<long long>(rows), static_cast<long long>(inner),
              static_cast<long long>(inner), static_cast<long long>(cols),
              int8 ? "int8" : soragen::core::dtype_name(compute).c_str(), si(gemm_rate, "FLOP/s").c_str(),
              si(step_rate, "FLOP/s").c_str(), 100.0 * step_rate / gemm_rate);
}

int run(const Options& o) {
  using clock = std::chrono::steady_clock;
  const soragen::LaunchEnvironment launch = soragen::launch_environment_of_process();
  std::unique_ptr<soragen::ProcessGroup> group;
  if (launch.several_processes()) {
    group = soragen::ProcessGroup::join(launch, std::chrono::minutes(5), nullptr);
    // Rank 0 reports; the others' lines would interleave with its.
    if (group->rank() != 0 && !std::freopen("/dev/null", "w", stdout)) return 1;
  }
  const c10::Device device =
      soragen::core::parse_device(group ? soragen::device_for_rank(o.device, launch) : o.device);
  const at::ScalarType dtype = soragen::core::parse_dtype(o.dtype, device);
  const at::ScalarType compute =
      o.compute_dtype.empty() ? soragen::core::matmul_dtype(device, dtype)
                              : soragen::core::parse_dtype(o.compute_dtype, device);
  const int threads = soragen::core::set_threads(o.threads);
  const auto full_config = soragen::dit::DitConfig::from_file(o.config);
  if (o.layers > full_config.num_layers) {
    throw soragen::UsageError("--layers " + std::to_string(o.layers) + ": the config has only " +
                              std::to_string(full_config.num_layers) + " blocks");
  }
  if (o.layers > 0 && !o.weights.empty()) throw soragen::UsageError("--layers works with random weights only");
  soragen::dit::DitConfig config = full_config;
  if (o.layers > 0) config.num_layers = o.layers;

  // Latent grid: 4x in time (plus the first frame); 16x in space for the
  // Wan2.2 VAE's 48 channels, 8x for the Wan2.1 VAE's 16.
  const int64_t stride = config.out_dim == 48 ? 16 : 8;
  if (o.height % (stride * config.patch_size[1]) || o.width % (stride * config.patch_size[2])) {
    throw soragen::UsageError("height and width must be multiples of " +
                              std::to_string(stride * config.patch_size[1]) + " for this config");
  }
  const int64_t latent_frames = (o.frames - 1) / 4 + 1;
  const int64_t latent_h = o.height / stride, latent_w = o.width / stride;
  const int64_t tokens = soragen::dit::token_count(config, latent_frames, latent_h, latent_w);
  if (o.context_len > config.text_len || o.negative_context_len > config.text_len) {
    throw soragen::UsageError("context lengths must be at most text_len = " + std::to_string(config.text_len));
  }

  const auto build_start = clock::now();
  soragen::dit::WanModel model{nullptr};
  if (o.weights.empty()) {
    model = soragen::dit::WanModel(config, dtype);
    model->to(device);
    soragen::bench::fill_random_weights(*model, o.seed);
  } else {
    soragen::dit::DitLoadOptions load;
    load.weight_dtype = dtype;
    model = soragen::dit::load_wan_model(config, *soragen::io::open_weights(o.weights), soragen::Logger(), load);
    model->to(device);
  }
  model->run_options().compute_dtype = compute;
  if (o.fp8) std::printf("fp8 block weights: %s\n", quantize_blocks(*model, device, /*int8=*/false).c_str());
  if (o.int8) std::printf("int8 block weights: %s\n", quantize_blocks(*model, device, /*int8=*/true).c_str());
  if (group) {
    const auto channel = soragen::distributed::open_tensor_channel(*group, soragen::distributed::every_rank(*group), device);
    model->run_options().sequence_parallel = std::make_shared<soragen::distributed::UlyssesGroup>(channel);
    std::printf("Ulysses sequence parallelism over %d processes (%s, %s), %s on rank 0\n", group->world_size(),
                soragen::launcher_name(launch.launcher).c_str(), channel->uses_nccl() ? "NCCL" : "Gloo",
                device.str().c_str());
  }
  int64_t parameters = 0, bytes = 0;
  for (const auto& p : model->parameters()) {
    parameters += p.numel();
    bytes += p.numel() * static_cast<int64_t>(p.element_size());
  }
  const double build_s = std::chrono::duration<double>(clock::now() - build_start).count();

  std::printf("%s (%s): %.2fB parameters (%.1f GiB as %s) in %lld of %lld blocks, built in %.1f s\n",
              o.config.c_str(), config.model_type.c_str(), static_cast<double>(parameters) / 1e9,
              static_cast<double>(bytes) / (1 << 30), o.dtype.c_str(), static_cast<long long>(config.num_layers),
              static_cast<long long>(full_config.num_layers), build_s);
  std::printf("step: %lld frames %lldx%lld -> latent [%lld, %lld, %lld, %lld], %lld tokens, CFG batch 2 "
              "(contexts %lld and %lld tokens), %s compute on %s, %d threads, attention %s\n",
              static_cast<long long>(o.frames), static_cast<long long>(o.width), static_cast<long long>(o.height),
              static_cast<long long>(config.in_dim), static_cast<long long>(latent_frames),
              static_cast<long long>(latent_h), static_cast<long long>(latent_w), static_cast<long long>(tokens),
              static_cast<long long>(o.context_len), static_cast<long long>(o.negative_context_len),
              soragen::core::dtype_name(compute).c_str(), device.str().c_str(), threads,
              soragen::dit::attention_uses_sdpa(model->run_options().attention.backend) ? "sdpa" : "math");
  std::fflush(stdout);

  c10::InferenceMode inference;
  at::Generator generator = at::detail::createCPUGenerator(o.seed + 1);
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  const at::Tensor latent = at::randn({config.in_dim, latent_frames, latent_h, latent_w}, generator, f32).to(device);
  // The encoder hands over its contexts in the compute dtype.
  const std::vector<at::Tensor> contexts{
      at::randn({o.context_len, config.text_dim}, generator, f32).mul_(0.1).to(device, compute),
      at::randn({o.negative_context_len, config.text_dim}, generator, f32).mul_(0.1).to(device, compute)};
  // ti2v: one timestep per token, as the reference's TI2V loop builds them
  // (its t2v mode has the same value everywhere; the cost is the shape).
  const at::Tensor t = config.model_type == "ti2v" ? at::full({2, tokens}, 999.0, f32.device(device))
                                                   : at::full({2}, 999.0, f32.device(device));

  std::vector<double> seconds;
  for (int i = 0; i < o.warmup + o.repeat; ++i) {
    const auto start = clock::now();
    const std::vector<at::Tensor> out = model->forward({latent, latent}, t, contexts, tokens);
    // Reading a value back waits for an asynchronous device.
    const bool finite = out[0].isfinite().all().item<bool>() && out[1].isfinite().all().item<bool>();
    const double s = std::chrono::duration<double>(clock::now() - start).count();
    if (!finite) throw soragen::ModelError("the forward pass produced NaN or Inf");
    const bool is_warmup = i < o.warmup;
    if (!is_warmup) seconds.push_back(s);
    std::printf("  %s %d: %.2f s\n", is_warmup ? "warmup" : "step", is_warmup ? i + 1 : i - o.warmup + 1, s);
    std::fflush(stdout);
  }

  const int64_t text_rows = soragen::dit::cross_attention_rows(config, {o.context_len, o.negative_context_len});
  const soragen::dit::DitFlops flops = soragen::dit::dit_forward_flops(config, tokens, /*batch=*/2, text_rows);
  const double step_s = median(seconds);
  const double min_s = *std::min_element(seconds.begin(), seconds.end());
  std::printf("seconds per step: %.2f (median of %d, min %.2f)\n", step_s, o.repeat, min_s);
  std::printf("FLOPs per step: %s (self-attention scores %.0f%%, FFN %.0f%%), achieved %s\n",
              si(static_cast<double>(flops.total()), "FLOP").c_str(),
              100.0 * static_cast<double>(flops.self_attention_scores) / static_cast<double>(flops.total()),
              100.0 * static_cast<double>(flops.ffn) / static_cast<double>(flops.total()),
              si(static_cast<double>(flops.total()) / step_s, "FLOP/s").c_str());
  if (config.num_layers < full_config.num_layers) {
    // Embeddings, time MLP and head are counted once in both, the blocks
    // scale with their number: the FLOP ratio carries the step time over.
    const double full_flops =
        static_cast<double>(soragen::dit::dit_forward_flops(full_config, tokens, 2, text_rows).total());
    const double ratio = full_flops / static_cast<double>(flops.total());
    std::printf("EXTRAPOLATED to all %lld blocks (x%.2f, the FLOP ratio): %.2f s per step (min %.2f); "
                "measured with %lld blocks only\n",
                static_cast<long long>(full_config.num_layers), ratio, step_s * ratio, min_s * ratio,
                static_cast<long long>(config.num_layers));
  }
  if (o.breakdown) {
    print_breakdown(model, {latent, latent}, t, contexts, tokens, device, static_cast<double>(flops.total()), compute);
  }
  std::printf("peak RSS: %.0f MiB (host memory)\n", peak_rss_mib());
  if (group) {
    model->run_options().sequence_parallel.reset();  // its channel before the group
    group->leave();
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Times one denoising step (CFG batch of 2) of a Wan2.1 or Wan2.2 DiT with random weights."};
  Options o;
  app.add_option("--config", o.config, "DiT config JSON")->check(CLI::ExistingFile)->capture_default_str();
  app.add_option("--frames", o.frames, "video frames (4k+1)")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--height", o.height, "pixels, a multiple of 16 (32 for a Wan2.2-VAE latent, out_dim 48)")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--width", o.width, "pixels, a multiple of 16 (32 for a Wan2.2-VAE latent, out_dim 48)")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--dtype", o.dtype, "weight (and compute) dtype")
      ->check(CLI::IsMember({"fp32", "bf16", "fp16"}))->capture_default_str();
  app.add_option("--compute-dtype", o.compute_dtype,
                 "dtype of the matrix products (default: as soragen runs the weights' dtype here: "
                 "fp32 for bf16 on a CPU without avx512_bf16)")
      ->check(CLI::IsMember({"fp32", "bf16", "fp16"}));
  app.add_option("--device", o.device, "cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--threads", o.threads, "CPU threads, 0: all cores")->capture_default_str();
  app.add_option("--warmup", o.warmup, "untimed steps first")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--repeat", o.repeat, "timed steps")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--context-len", o.context_len, "prompt tokens")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--negative-context-len", o.negative_context_len, "negative prompt tokens")
      ->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--seed", o.seed, "seed of the weights and inputs")->capture_default_str();
  app.add_option("--weights", o.weights, "load the DiT from this checkpoint instead of random weights")
      ->check(CLI::ExistingFile);
  app.add_option("--layers", o.layers,
                 "build only this many blocks and extrapolate the step to all (for models larger than RAM)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_flag("--fp8", o.fp8,
               "block weights as fp8 e4m3fn codes with one scale each, multiplied with _scaled_mm where the "
               "device has an fp8 product (--fp8-weights keep)");
  app.add_flag("--int8", o.int8,
               "block weights as int8 codes with one scale per row (soragen-convert --to int8), multiplied by "
               "the CPU's int8 GEMM (--fp8-weights keep)")
      ->excludes("--fp8");
  app.add_flag("--breakdown", o.breakdown,
               "after the timed steps, one more with a timestamp at every debug-hook event: the time of each part "
               "of a block, and the step's matrix rate against at::mm's on the FFN's shape");
  CLI11_PARSE(app, argc, argv);
  try {
    return run(o);
  } catch (const soragen::UsageError& e) {
    std::fprintf(stderr, "bench_dit: %s\n", e.what());
    return 2;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "bench_dit: %s\n", e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_dit: %s\n", e.what());
    return 1;
  }
}
