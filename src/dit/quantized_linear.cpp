#include "dit/quantized_linear.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>
#include <c10/util/accumulate.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/runtime.h"
#include "core/torch_compat.h"
#include "soragen/error.h"

namespace soragen::dit {
namespace {

// The largest finite e4m3fn value, and int8's symmetric range.
constexpr double kFloat8Max = 448.0;
constexpr double kInt8Max = 127.0;

// scale as a column [out, 1] over a weight's rows, or a 0-dim scalar.
at::Tensor row_scale(const at::Tensor& scale) {
  return scale.numel() == 1 ? scale.reshape({}).to(at::kFloat) : scale.reshape({-1, 1}).to(at::kFloat);
}

at::Tensor linear_upcast(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& scale,
                         const at::Tensor& bias, at::ScalarType dtype) {
  const at::Tensor w = decode_weight(weight, scale).to(dtype);
  return at::linear(x.to(dtype), w, bias.defined() ? bias.to(dtype) : at::Tensor());
}

// libtorch's quantized operators, looked up once (they are registered by
// name only; the C++ API has no function for them).
const c10::OperatorHandle& quantized_operator(const char* name) {
  static std::mutex mutex;
  static std::map<std::string, c10::OperatorHandle> found;
  const std::lock_guard<std::mutex> lock(mutex);
  auto it = found.find(name);
  if (it == found.end()) it = found.emplace(name, c10::Dispatcher::singleton().findSchemaOrThrow(name, "")).first;
  return it->second;
}

at::Tensor linear_int8(const at::Tensor& x, const c10::IValue& packed, const at::Tensor& bias,
                       at::ScalarType dtype) {
  if (packed.isNone()) throw InternalError("an int8 Linear was multiplied before its weight was packed");
  // The engine quantizes the activation with one scale for the whole
  // tensor, so a few large tokens would coarsen every other token's grid.
  // Each token is divided by its own largest |x| first and the output row
  // multiplied back: one grid per token (the embedded default's frames 42
  // dB from fp32's instead of 34-38, for ~6% of the step's time).
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor token_max = xf.abs().amax(-1, true).clamp_min(1e-30);
  at::Tensor y = int8_matmul((xf / token_max).contiguous(), packed).mul_(token_max);
  if (bias.defined()) y.add_(bias.to(at::kFloat));
  return y.to(dtype);
}

#if SORAGEN_TORCH_HAS_FLOAT8
// The activation [M, in] as e4m3fn codes and their scale, amax / 448 over the
// whole tensor (a 0-dim tensor). The scale stays on the device: no host
// synchronisation per layer.
std::pair<at::Tensor, at::Tensor> quantize_activation(const at::Tensor& x2d) {
  const at::Tensor xf = x2d.to(at::kFloat);
  const at::Tensor scale = (xf.abs().amax() / kFloat8Max).clamp_min(1e-12);
  const at::Tensor codes = (xf / scale).clamp(-kFloat8Max, kFloat8Max).to(at::kFloat8_e4m3fn);
  return {codes, scale};
}

at::Tensor linear_scaled_mm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& scale,
                            const at::Tensor& bias, at::ScalarType dtype) {
  const int64_t in = x.size(-1);
  const at::Tensor x2d = x.reshape({-1, in});
  const auto [codes, x_scale] = quantize_activation(x2d);
  // mat2 must be column-major: W^T of a row-major [out, in] is.
  at::Tensor y = at::_scaled_mm(codes, weight.t(), x_scale, scale.reshape({}).to(at::kFloat), std::nullopt,
                                std::nullopt, dtype);
  if (bias.defined()) y = y + bias.to(dtype);
  std::vector<int64_t> shape = x.sizes().vec();
  shape.back() = weight.size(0);
  return y.view(shape);
}
#endif

}  // namespace

bool is_quantized_weight(at::ScalarType dtype) {
#if SORAGEN_TORCH_HAS_FLOAT8
  if (dtype == at::kFloat8_e4m3fn) return true;
#endif
  return dtype == at::kChar;
}

at::Tensor int8_matmul(const at::Tensor& x, const c10::IValue& packed) {
  // Full 8-bit activations saturate vpmaddubsw's int16 pair sums without
  // VNNI (a 24% error on a worst case, measured); 7 bits cannot.
  static const bool reduce_range = !core::cpu_has_int8_dot_products();
  torch::jit::Stack stack{x, packed, reduce_range};
  quantized_operator("quantized::linear_dynamic").callBoxed(&stack);
  return stack.front().toTensor();
}

bool has_int8_matmul(c10::Device device) {
  if (!device.is_cpu()) return false;
  static const bool works = [] {
    const std::vector<at::QEngine>& engines = at::globalContext().supportedQEngines();
    // x86 picks FBGEMM or oneDNN per shape; QNNPACK is ARM's.
    for (const at::QEngine engine : {at::QEngine::X86, at::QEngine::FBGEMM, at::QEngine::ONEDNN}) {
      if (std::find(engines.begin(), engines.end(), engine) == engines.end()) continue;
      at::globalContext().setQEngine(engine);
      try {
        const at::Tensor codes = at::ones({16, 16}, at::TensorOptions().dtype(at::kChar));
        const at::Tensor y = linear_int8(at::ones({2, 16}), pack_int8_weight(codes, at::ones({16})), {}, at::kFloat);
        if (y.allclose(at::full({2, 16}, 16.0))) return true;
      } catch (const c10::Error&) {
      }
    }
    return false;
  }();
  return works;
}

c10::IValue pack_int8_weight(const at::Tensor& codes, const at::Tensor& scale) {
  const at::Tensor w = codes.to(at::kCPU).contiguous();
  const at::Tensor scales = scale.to(at::kCPU).to(at::kDouble).flatten();
  const at::Tensor quantized =
      scales.numel() == 1 ? at::_make_per_tensor_quantized_tensor(w, scales.item<double>(), 0)
                          : at::_make_per_channel_quantized_tensor(
                                w, scales, at::zeros({scales.numel()}, at::TensorOptions().dtype(at::kLong)), 0);
  torch::jit::Stack stack{quantized, c10::IValue()};
  quantized_operator("quantized::linear_prepack").callBoxed(&stack);
  return stack.front();
}

bool has_float8_matmul(c10::Device device) {
#if SORAGEN_TORCH_HAS_FLOAT8
  if (!device.is_cuda()) return false;
  static std::mutex mutex;
  static std::map<c10::DeviceIndex, bool> known;
  const std::lock_guard<std::mutex> lock(mutex);
  const auto it = known.find(device.index());
  if (it != known.end()) return it->second;
  bool works = true;
  try {
    const auto options = at::TensorOptions().device(device);
    const at::Tensor a = at::ones({16, 16}, options.dtype(at::kFloat)).to(at::kFloat8_e4m3fn);
    const at::Tensor one = at::ones({}, options.dtype(at::kFloat));
    at::_scaled_mm(a, a.t(), one, one, std::nullopt, std::nullopt, at::kBFloat16);
  } catch (const c10::Error&) {
    works = false;  // no fp8 tensor cores (before compute capability 8.9)
  }
  known[device.index()] = works;
  return works;
#else
  (void)device;
  return false;
#endif
}

std::string scaled_mm_misfit(at::ScalarType codes, at::IntArrayRef weight_shape, at::IntArrayRef scale_shape) {
#if SORAGEN_TORCH_HAS_FLOAT8
  if (codes != at::kFloat8_e4m3fn) return "its codes are not float8 e4m3fn";
  if (weight_shape.size() != 2 || weight_shape[0] % 16 != 0 || weight_shape[1] % 16 != 0) {
    return "its shape is not a multiple of 16 in both dimensions";
  }
  // Row-wise scaling exists on some GPUs only (not sm_89, nor the CPU):
  // per-row scales are decoded per call everywhere.
  if (c10::multiply_integers(scale_shape) != 1) return "its scales are per row, not one per tensor";
  return "";
#else
  (void)codes;
  (void)weight_shape;
  (void)scale_shape;
  return "this libtorch has no float8 dtype";
#endif
}

at::Tensor decode_weight(const at::Tensor& weight, const at::Tensor& scale) {
  return weight.to(at::kFloat) * row_scale(scale).to(weight.device());
}

at::Tensor quantized_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& scale,
                            const at::Tensor& bias, const std::vector<LowRankDelta>& deltas, QuantizedMatmul matmul,
                            at::ScalarType dtype, const c10::IValue& int8_packed) {
  at::Tensor y;
  if (matmul == QuantizedMatmul::int8_mm) y = linear_int8(x, int8_packed, bias, dtype);
#if SORAGEN_TORCH_HAS_FLOAT8
  if (matmul == QuantizedMatmul::scaled_mm) y = linear_scaled_mm(x, weight, scale, bias, dtype);
#endif
  if (!y.defined()) {
    if (matmul == QuantizedMatmul::scaled_mm) throw InternalError("scaled_mm needs libtorch 2.1 or newer");
    y = linear_upcast(x, weight, scale, bias, dtype);
  }
  if (deltas.empty()) return y;
  const at::Tensor xd = x.to(dtype);
  for (const LowRankDelta& delta : deltas) {
    y = y + at::linear(at::linear(xd, delta.down.to(dtype)), delta.up.to(dtype)) * delta.factor;
  }
  return y;
}

std::pair<at::Tensor, at::Tensor> requantize(const at::Tensor& full, const at::Tensor& like_weight,
                                             const at::Tensor& like_scale) {
  const bool per_row = like_scale.numel() > 1;
  const at::Tensor w = full.to(at::kFloat);
  const at::Tensor amax = per_row ? w.abs().amax({1}) : w.abs().amax();
  const bool int8 = like_weight.scalar_type() == at::kChar;
  at::Tensor scale = amax / (int8 ? kInt8Max : kFloat8Max);
  scale = at::where(scale > 0, scale, at::ones_like(scale));  // an all-zero row keeps scale 1
  const at::Tensor scaled = w / (per_row ? scale.view({-1, 1}) : scale);
  at::Tensor codes;
  if (int8) {
    codes = scaled.round().clamp(-kInt8Max, kInt8Max).to(at::kChar);
  } else {
#if SORAGEN_TORCH_HAS_FLOAT8
    codes = scaled.clamp(-kFloat8Max, kFloat8Max).to(like_weight.scalar_type());
#else
    throw InternalError("float8 weights need libtorch 2.1 or newer");
#endif
  }
  return {codes.contiguous(), scale.reshape(like_scale.sizes()).to(like_scale.scalar_type()).contiguous()};
}

}  // namespace soragen::dit
