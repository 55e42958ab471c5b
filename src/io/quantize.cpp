#include "io/quantize.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>

#include "soragen/error.h"

namespace soragen::io {

uint8_t float_to_float8_e4m3fn(float value) {
  if (std::isnan(value)) return 0x7f;
  const uint8_t sign = std::signbit(value) ? 0x80 : 0x00;
  const float magnitude = std::min(std::abs(value), 448.0f);
  // Below the smallest normal (2^-6) the codes are steps of 2^-9; rounding
  // up to 8 steps lands on the smallest normal code, 0x08, as it should.
  if (magnitude < 0.015625f) {
    return static_cast<uint8_t>(sign | static_cast<uint8_t>(std::nearbyint(std::ldexp(magnitude, 9))));
  }
  int exponent = 0;
  std::frexp(magnitude, &exponent);  // magnitude = f * 2^exponent, f in [0.5, 1)
  int e = exponent - 1;              // magnitude in [2^e, 2^(e+1))
  // 3 mantissa bits: steps of 2^(e-3); q in [8, 16] with ties to even.
  auto q = static_cast<int>(std::nearbyint(std::ldexp(magnitude, 3 - e)));
  if (q == 16) {
    q = 8;
    ++e;
  }
  const int code = ((e + 7) << 3) | (q - 8);
  return static_cast<uint8_t>(sign | std::min(code, 0x7e));
}

QuantizedWeight quantize_fp8(const at::Tensor& weight) {
  const at::Tensor values = weight.to(at::kFloat).contiguous();
  const double amax = values.abs().max().item<double>();
  if (!std::isfinite(amax)) throw ModelError("quantizing a tensor with NaN or Inf values");
  const float scale = amax > 0 ? static_cast<float>(amax / 448.0) : 1.0f;
  at::Tensor codes = at::empty(values.sizes(), at::TensorOptions().dtype(at::kByte));
  const float* in = values.data_ptr<float>();
  uint8_t* out = codes.data_ptr<uint8_t>();
  at::parallel_for(0, values.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = float_to_float8_e4m3fn(in[i] / scale);
  });
  return {codes, at::full({1}, scale, at::kFloat)};
}

QuantizedWeight quantize_int8_rows(const at::Tensor& weight) {
  if (weight.dim() < 2) throw ModelError("int8 rows: a tensor of one dimension has no rows");
  const at::Tensor values = weight.to(at::kFloat).reshape({weight.size(0), -1});
  const at::Tensor amax = std::get<0>(values.abs().max(1));
  if (!amax.isfinite().all().item<bool>()) throw ModelError("quantizing a tensor with NaN or Inf values");
  const at::Tensor scale = at::where(amax > 0, amax / 127.0, at::ones_like(amax));
  const at::Tensor codes = at::round(values / scale.unsqueeze(1)).clamp(-127, 127).to(at::kChar);
  return {codes.reshape(weight.sizes()).contiguous(), scale.contiguous()};
}

}  // namespace soragen::io
