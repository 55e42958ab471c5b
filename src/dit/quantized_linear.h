// Quantized DiT weights kept as stored (float8 e4m3fn from Comfy's scaled-fp8
// files or `soragen-convert --to fp8`, int8 from `--to int8`), instead of
// decoded to the weight dtype at load: half the memory of bf16 weights, and on
// GPUs with fp8 tensor cores (compute capability 8.9 and up) an fp8 GEMM.
//
// The stored weight is code * scale_weight (one scale, or one per output
// row). Two ways to multiply by it:
//  - scaled_mm (weights with one scale per tensor, as Comfy's and
//    soragen-convert's fp8 files have): the activation is quantized to
//    e4m3fn on the fly with one scale per tensor, and both scales go to
//    at::_scaled_mm, which accumulates in fp32 (Transformer Engine's and
//    torchao's "dynamic" fp8 recipe);
//  - int8_mm (int8 codes on the CPU): libtorch's dynamic quantized Linear
//    (FBGEMM in PyTorch's builds, oneDNN in Debian's): the weight is packed
//    once, the activation divided by each token's largest |x| and quantized
//    to uint8 on the fly (one scale and zero point per call), the products
//    summed in int32 and each output row multiplied back by its token's
//    factor; on CPUs without VNNI the activation gets 7 bits
//    (core::cpu_has_int8_dot_products);
//  - upcast: the weight is decoded to the compute dtype for each call, the
//    same numbers as a load-time decode, at a GEMM-sized cost per call.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/core/ivalue.h>
#include <c10/core/Device.h>

#include <string>
#include <utility>
#include <vector>

namespace soragen::dit {

// What becomes of a DiT file's quantized block weights (--fp8-weights).
enum class QuantizedWeights {
  decode,     // decoded to the weight dtype at load (every libtorch, every device)
  keep,       // kept; scaled_mm where the device has an fp8 GEMM, int8_mm for int8 codes on
              // the CPU, else upcast per call
};

enum class QuantizedMatmul { scaled_mm, int8_mm, upcast };

// A LoRA's low-rank pair applied at run time to a kept weight (merging it
// would need the weight in full precision): y += factor * (x down^T) up^T.
struct LowRankDelta {
  at::Tensor down;  // [rank, in], float32
  at::Tensor up;    // [out, rank], float32
  double factor = 1.0;
};

// True when `device` runs at::_scaled_mm on e4m3fn operands: a CUDA device
// where a 16x16x16 product runs (libtorch >= 2.1; tried once per device and
// remembered). The CPU answers false: its _scaled_mm (libtorch 2.6+)
// emulates fp8, slower than its bf16 GEMM.
bool has_float8_matmul(c10::Device device);

// True when `device` is the CPU and this libtorch has a quantized engine
// with a dynamic int8 Linear (FBGEMM or x86 in PyTorch's builds, oneDNN in
// Debian's 1.13), which the first call selects for the process. Tried once
// on a small product and remembered.
bool has_int8_matmul(c10::Device device);

// int8 codes [out, in] and their scale (one, or one per row), packed for
// int8_mm: the engine's own layout, made once at load.
c10::IValue pack_int8_weight(const at::Tensor& codes, const at::Tensor& scale);

// x [M, in] (float32, contiguous) times a packed int8 weight, as the engine
// does it: x quantized with one scale for the whole tensor, float32 out.
at::Tensor int8_matmul(const at::Tensor& x, const c10::IValue& packed);

// True for a weight dtype kept quantized (float8 e4m3fn, int8).
bool is_quantized_weight(at::ScalarType dtype);

// The reason a weight of `codes` dtype and `weight_shape` [out, in] with a
// scale of `scale_shape` cannot be multiplied with scaled_mm, or "" when it
// can: e4m3fn codes, in and out multiples of 16 (cuBLASLt's fp8 alignment),
// one scale.
std::string scaled_mm_misfit(at::ScalarType codes, at::IntArrayRef weight_shape, at::IntArrayRef scale_shape);

// code * scale in float32 [out, in].
at::Tensor decode_weight(const at::Tensor& weight, const at::Tensor& scale);

// y = x W^T + bias with W = weight * scale, in `dtype` ([..., in] -> [..., out]),
// plus every delta. int8_mm multiplies by `int8_packed` (pack_int8_weight of
// weight and scale).
at::Tensor quantized_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& scale,
                            const at::Tensor& bias, const std::vector<LowRankDelta>& deltas, QuantizedMatmul matmul,
                            at::ScalarType dtype, const c10::IValue& int8_packed = {});

// `full` [out, in] (float32) stored again in `like_weight`'s code dtype with
// `like_scale`'s form (one scale, or one per row): the requantization of a
// kept weight that a full-difference LoRA key (.diff) changes.
std::pair<at::Tensor, at::Tensor> requantize(const at::Tensor& full, const at::Tensor& like_weight,
                                             const at::Tensor& like_scale);

}  // namespace soragen::dit
