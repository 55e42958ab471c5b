#include "io/dtypes.h"

#include <ATen/ATen.h>

#include <array>
#include <cmath>
#include <limits>

#include "core/torch_compat.h"

namespace soragen::io {
namespace {

#if SORAGEN_TORCH_HAS_FLOAT8
constexpr at::ScalarType kE4M3 = at::kFloat8_e4m3fn;
constexpr at::ScalarType kE5M2 = at::kFloat8_e5m2;
#else
constexpr at::ScalarType kE4M3 = at::kFloat;
constexpr at::ScalarType kE5M2 = at::kFloat;
#endif

constexpr std::array<DtypeSpec, 12> kDtypes{{
    {"F64", 8, at::kDouble, false},
    {"F32", 4, at::kFloat, false},
    {"F16", 2, at::kHalf, false},
    {"BF16", 2, at::kBFloat16, false},
    {"F8_E4M3", 1, kE4M3, true},
    {"F8_E5M2", 1, kE5M2, true},
    {"I64", 8, at::kLong, false},
    {"I32", 4, at::kInt, false},
    {"I16", 2, at::kShort, false},
    {"I8", 1, at::kChar, false},
    {"U8", 1, at::kByte, false},
    {"BOOL", 1, at::kBool, false},
}};

// Valid in the safetensors spec, but libtorch (1.13 at least) has no such
// tensor type; naming them separately makes the error say "unsupported".
constexpr std::array<const char*, 8> kKnownUnsupported{
    {"U16", "U32", "U64", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64"}};

template <int kMantissaBits, int kBias>
float decode_minifloat(uint8_t bits) {
  constexpr int kExponentBits = 7 - kMantissaBits;
  const bool negative = (bits & 0x80) != 0;
  const int exponent = (bits >> kMantissaBits) & ((1 << kExponentBits) - 1);
  const int mantissa = bits & ((1 << kMantissaBits) - 1);
  float magnitude;
  if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), 1 - kBias - kMantissaBits);
  } else {
    magnitude = std::ldexp(static_cast<float>(mantissa + (1 << kMantissaBits)),
                           exponent - kBias - kMantissaBits);
  }
  return negative ? -magnitude : magnitude;
}

#if !SORAGEN_TORCH_HAS_FLOAT8
std::array<float, 256> make_table(bool e4m3) {
  std::array<float, 256> table{};
  for (int i = 0; i < 256; ++i) {
    table[i] = e4m3 ? float8_e4m3fn_to_float(static_cast<uint8_t>(i))
                    : float8_e5m2_to_float(static_cast<uint8_t>(i));
  }
  return table;
}
#endif

}  // namespace

const DtypeSpec* find_dtype(const std::string& name, bool* known) {
  for (const auto& spec : kDtypes) {
    if (name == spec.name) {
      if (known) *known = true;
      return &spec;
    }
  }
  if (known) {
    *known = false;
    for (const char* other : kKnownUnsupported) *known = *known || name == other;
  }
  return nullptr;
}

std::string safetensors_dtype_name(at::ScalarType type) {
  for (const auto& spec : kDtypes) {
    if (spec.type == type && !(spec.float8 && !SORAGEN_TORCH_HAS_FLOAT8)) return spec.name;
  }
  return c10::toString(type);
}

float float8_e4m3fn_to_float(uint8_t bits) {
  // "fn": finite only; the all-ones exponent still holds numbers up to 448,
  // and only S.1111.111 is NaN.
  if ((bits & 0x7f) == 0x7f) return std::numeric_limits<float>::quiet_NaN();
  return decode_minifloat<3, 7>(bits);
}

float float8_e5m2_to_float(uint8_t bits) {
  if ((bits & 0x7c) == 0x7c) {
    if ((bits & 0x03) != 0) return std::numeric_limits<float>::quiet_NaN();
    return (bits & 0x80) ? -std::numeric_limits<float>::infinity()
                         : std::numeric_limits<float>::infinity();
  }
  return decode_minifloat<2, 15>(bits);
}

at::Tensor decode_float8(const at::Tensor& bytes, const DtypeSpec& spec) {
#if SORAGEN_TORCH_HAS_FLOAT8
  return bytes.contiguous().view(spec.type);
#else
  static const std::array<float, 256> e4m3 = make_table(true);
  static const std::array<float, 256> e5m2 = make_table(false);
  const auto& table = std::string(spec.name) == "F8_E4M3" ? e4m3 : e5m2;
  const at::Tensor codes = bytes.contiguous();
  at::Tensor out = at::empty(codes.sizes(), at::TensorOptions().dtype(at::kFloat));
  const uint8_t* in = codes.data_ptr<uint8_t>();
  float* dst = out.data_ptr<float>();
  for (int64_t i = 0, n = codes.numel(); i < n; ++i) dst[i] = table[in[i]];
  return out;
#endif
}

}  // namespace soragen::io
