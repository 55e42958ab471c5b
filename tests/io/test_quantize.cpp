// Quantization for soragen-convert: every e4m3fn code round-trips, values
// between codes round to the nearer (ties to the even code), and the
// quantized weights come back within their format's step.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

#include "io/dtypes.h"
#include "io/quantize.h"

namespace soragen::io {
namespace {

TEST(Quantize, EveryFloat8CodeRoundTrips) {
  for (int code = 0; code < 256; ++code) {
    const float value = float8_e4m3fn_to_float(static_cast<uint8_t>(code));
    if (std::isnan(value)) continue;
    const uint8_t back = float_to_float8_e4m3fn(value);
    // +0 and -0 are two codes of one value.
    EXPECT_TRUE(back == code || (value == 0 && (back & 0x7f) == 0)) << code << " -> " << value << " -> " << int(back);
  }
  EXPECT_EQ(float_to_float8_e4m3fn(std::numeric_limits<float>::quiet_NaN()), 0x7f);
  EXPECT_EQ(float_to_float8_e4m3fn(1000.0f), 0x7e) << "saturates at 448";
  EXPECT_EQ(float_to_float8_e4m3fn(-1000.0f), 0xfe);
}

TEST(Quantize, RoundsToTheNearerCodeWithTiesToEven) {
  // 1.0 is 0x38 and 1.125 is 0x39: 1.0625 is the tie, to the even 0x38;
  // 1.09 is nearer 1.125. 1.1875 lies between 0x39 and 0x3a (1.25): to 0x3a.
  EXPECT_EQ(float_to_float8_e4m3fn(1.0625f), 0x38);
  EXPECT_EQ(float_to_float8_e4m3fn(1.09f), 0x39);
  EXPECT_EQ(float_to_float8_e4m3fn(1.1875f), 0x3a);
  // Subnormals: steps of 2^-9; 1.5 steps ties to 2 steps (0x02).
  EXPECT_EQ(float_to_float8_e4m3fn(1.5f / 512), 0x02);
  EXPECT_EQ(float_to_float8_e4m3fn(0.0154f), 0x08) << "rounds up to the smallest normal";
  // Between every pair of neighbouring positive codes the midpoint goes to the even code.
  for (int code = 0; code < 0x7e; ++code) {
    const float a = float8_e4m3fn_to_float(static_cast<uint8_t>(code));
    const float b = float8_e4m3fn_to_float(static_cast<uint8_t>(code + 1));
    const uint8_t mid = float_to_float8_e4m3fn((a + b) / 2);
    EXPECT_EQ(mid, code % 2 == 0 ? code : code + 1) << code;
    EXPECT_EQ(float_to_float8_e4m3fn(a + (b - a) * 0.3f), code);
    EXPECT_EQ(float_to_float8_e4m3fn(a + (b - a) * 0.7f), code + 1);
  }
}

TEST(Quantize, Fp8KeepsEachWeightWithinItsStep) {
  at::manual_seed(1);
  const at::Tensor w = at::randn({64, 48}) * 0.05;
  const QuantizedWeight q = quantize_fp8(w);
  ASSERT_EQ(q.scale.numel(), 1);
  EXPECT_NEAR(q.scale.item<float>(), w.abs().max().item<float>() / 448, 1e-9);
  at::Tensor back = at::empty_like(w);
  const uint8_t* codes = q.codes.data_ptr<uint8_t>();
  for (int64_t i = 0; i < w.numel(); ++i) back.view(-1)[i] = float8_e4m3fn_to_float(codes[i]) * q.scale.item<float>();
  // 3 mantissa bits: a relative error of at most 2^-4 for normal values,
  // and half a subnormal step below them.
  const at::Tensor error = (back - w).abs();
  const at::Tensor bound = at::maximum(w.abs() / 16, at::full_like(w, q.scale.item<float>() * std::ldexp(1.0f, -10)));
  EXPECT_TRUE((error <= bound * 1.0001).all().item<bool>()) << (error - bound).max();
  EXPECT_EQ(quantize_fp8(at::zeros({4, 4})).scale.item<float>(), 1.0f);
}

TEST(Quantize, Int8ScalesEachRow) {
  const at::Tensor w = at::tensor({1.0f, -0.6f, 0.25f, 100.0f, 40.0f, -25.0f}).view({2, 3});
  const QuantizedWeight q = quantize_int8_rows(w);
  EXPECT_TRUE(at::allclose(q.scale, at::tensor({1.0f / 127, 100.0f / 127})));
  // -76.2, 31.75, 50.8 and -31.75 steps round to -76, 32, 51 and -32.
  EXPECT_TRUE(at::equal(q.codes, at::tensor({127, -76, 32, 127, 51, -32}, at::kChar).view({2, 3}))) << q.codes;
  const at::Tensor back = q.codes.to(at::kFloat) * q.scale.unsqueeze(1);
  EXPECT_TRUE(((back - w).abs() <= q.scale.unsqueeze(1) / 2 + 1e-6).all().item<bool>());
  EXPECT_TRUE(at::equal(quantize_int8_rows(at::zeros({2, 2})).scale, at::ones({2})));
}

}  // namespace
}  // namespace soragen::io
