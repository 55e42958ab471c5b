// Quantized weights kept as stored (src/dit/quantized_linear.h, --fp8-weights):
// the per-call decode gives the numbers of a load-time decode; the fp8 product
// (at::_scaled_mm, which libtorch 2.11 also runs on the CPU) equals the
// dynamic-scaling recipe worked out here in float64; the CPU's int8 product
// is within the activation's quantization step of the decoded weight's
// product; a DiT loaded with its codes kept renders as the decoded one; LoRAs
// on kept weights apply at run time (low rank) or quantize again (full
// differences).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/core/dispatch/Dispatcher.h>

#include <map>
#include <string>
#include <vector>

#include "core/torch_compat.h"
#include "dit/lora.h"
#include "dit/quantized_linear.h"
#include "dit_unit_util.h"
#include "io/quantize.h"
#include "io/tensor_source.h"
#include "soragen/error.h"

namespace soragen::dit::unit {
namespace {

using Tensors = std::map<std::string, at::Tensor>;

// tiny_json with every Linear a multiple of 16 wide (cuBLASLt's fp8 rule).
DitConfig aligned_config() {
  nlohmann::json json = tiny_json();
  json["dim"] = 32;
  json["ffn_dim"] = 64;
  json["text_dim"] = 16;
  json["freq_dim"] = 16;
  return DitConfig::from_json(json, "aligned");
}

WanModel random_model(const DitConfig& config) {
  WanModel model(config);
  torch::NoGradGuard no_grad;
  at::manual_seed(11);
  for (auto& item : model->named_parameters()) item.value().copy_(at::randn(item.value().sizes()) * 0.3);
  return model;
}

// The model's tensors with every block Linear weight quantized as
// soragen-convert writes it: int8 with per-row scales, or e4m3fn with one scale.
Tensors quantized_checkpoint(const WanModel& model, bool float8) {
  Tensors tensors;
  for (const auto& item : model->named_parameters()) tensors[item.key()] = item.value().clone();
  for (const auto& item : model->named_parameters()) {
    const std::string& name = item.key();
    if (name.rfind("blocks.", 0) != 0 || item.value().dim() != 2) continue;
    const std::string prefix = name.substr(0, name.size() - 7);
    if (float8) {
#if SORAGEN_TORCH_HAS_FLOAT8
      const io::QuantizedWeight q = io::quantize_fp8(item.value());
      tensors[name] = q.codes.view(at::kFloat8_e4m3fn);
      tensors[prefix + ".scale_weight"] = q.scale;
#endif
    } else {
      const io::QuantizedWeight q = io::quantize_int8_rows(item.value());
      tensors[name] = q.codes;
      tensors[prefix + ".scale_weight"] = q.scale;
    }
  }
  tensors["scaled_fp8"] = at::empty({0}, at::kByte);
  return tensors;
}

WanModel load(const DitConfig& config, const Tensors& tensors, QuantizedWeights how, QuantizedMatmul matmul) {
  DitLoadOptions options;
  options.strict_weights = true;  // scales and marker are neither missing nor unexpected
  options.quantized = how;
  options.quantized_matmul = matmul;
  return load_wan_model(config, io::MemorySource("quantized.safetensors", tensors), Logger(), options);
}

at::Tensor render(const WanModel& model, const DitConfig& config) {
  const c10::InferenceMode inference;
  at::manual_seed(5);
  const at::Tensor latent = at::randn({config.in_dim, 2, 4, 4});
  const at::Tensor context = at::randn({5, config.text_dim});
  return model->forward({latent}, at::full({1}, 600.0), {context}, 8).front();
}

double relative_error(const at::Tensor& got, const at::Tensor& want) {
  return ((got - want).norm() / want.norm()).item<double>();
}

TEST(QuantizedLinear, UpcastGivesTheDecodedWeightsProduct) {
  at::manual_seed(1);
  const at::Tensor w = at::randn({48, 32});
  const io::QuantizedWeight q = io::quantize_int8_rows(w);
  const at::Tensor x = at::randn({3, 5, 32});
  const at::Tensor bias = at::randn({48});
  const at::Tensor decoded = q.codes.to(at::kFloat) * q.scale.view({-1, 1});
  const at::Tensor got = quantized_linear(x, q.codes, q.scale, bias, {}, QuantizedMatmul::upcast, at::kFloat);
  EXPECT_TRUE(at::equal(got, at::linear(x, decoded, bias)));
  EXPECT_TRUE(at::equal(decode_weight(q.codes, q.scale), decoded));
  // A low-rank delta adds factor * x down^T up^T.
  const LowRankDelta delta{at::randn({4, 32}), at::randn({48, 4}), 0.5};
  const at::Tensor with_delta =
      quantized_linear(x, q.codes, q.scale, bias, {delta}, QuantizedMatmul::upcast, at::kFloat);
  const at::Tensor expected = at::linear(x, decoded + 0.5 * at::mm(delta.up, delta.down), bias);
  EXPECT_TRUE(at::allclose(with_delta, expected, 1e-5, 1e-5)) << (with_delta - expected).abs().max();
}

TEST(QuantizedLinear, ScaledMmEqualsTheDynamicFp8Recipe) {
#if !SORAGEN_TORCH_HAS_FLOAT8
  GTEST_SKIP() << "libtorch " << TORCH_VERSION << " has no float8 dtype";
#else
  at::manual_seed(2);
  const at::Tensor w = at::randn({48, 32});
  const at::Tensor x = at::randn({7, 32}) * 3;
  const at::Tensor bias = at::randn({48});
  // Worked out apart from the code under test: e4m3fn rounding of x / (amax / 448)
  // by io's exact encoder, then the product of the decoded values in float64.
  const auto e4m3 = [](const at::Tensor& scaled) {
    const io::QuantizedWeight q = io::quantize_fp8(scaled);  // its own scale: amax / 448
    return q.codes.view(at::kFloat8_e4m3fn).to(at::kDouble) * q.scale.to(at::kDouble);
  };
  const io::QuantizedWeight wq = io::quantize_fp8(w);
  const at::Tensor w_decoded = wq.codes.view(at::kFloat8_e4m3fn).to(at::kDouble) * wq.scale.to(at::kDouble);
  const at::Tensor expected = at::linear(e4m3(x), w_decoded, bias.to(at::kDouble));
  const at::Tensor got = quantized_linear(x, wq.codes.view(at::kFloat8_e4m3fn), wq.scale, bias, {},
                                          QuantizedMatmul::scaled_mm, at::kFloat);
  EXPECT_EQ(got.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::allclose(got.to(at::kDouble), expected, 1e-5, 1e-4)) << (got - expected).abs().max();
  // Against the full-precision product it is fp8-close, not equal.
  const double error = relative_error(got, at::linear(x, w, bias));
  EXPECT_GT(error, 1e-4);
  EXPECT_LT(error, 0.08);
  // Shapes: [B, L, in] in, [B, L, out] out.
  const at::Tensor batched = quantized_linear(x.view({1, 7, 32}), wq.codes.view(at::kFloat8_e4m3fn), wq.scale, bias,
                                              {}, QuantizedMatmul::scaled_mm, at::kFloat);
  EXPECT_EQ(batched.sizes(), (std::vector<int64_t>{1, 7, 48}));
#endif
}

// |x W^T - y| bounded element-wise by what quantizing the activation can
// cost. Each token (row) is divided by its largest |x|, then the whole tensor
// shares one uint8 grid whose step is its range (0 included) over 127 levels
// (7 bits without VNNI; 255 levels with it, a finer grid). Each scaled value
// moves by at most one step (half of rounding, half more where the zero point
// is rounded), so |error_ij| <= step * max_i|x| * sum_k |W_jk|. W is the
// decoded weight, exactly what the codes hold.
void expect_within_activation_step(const at::Tensor& got, const at::Tensor& x, const at::Tensor& decoded,
                                   const at::Tensor& bias) {
  const at::Tensor x64 = x.to(at::kDouble);
  const at::Tensor token_max = x64.abs().amax(1, true);
  const at::Tensor scaled = x64 / token_max;
  const double step = (scaled.max().clamp_min(0) - scaled.min().clamp_max(0)).item<double>() / 127.0;
  const at::Tensor want = at::linear(x64, decoded.to(at::kDouble), bias.to(at::kDouble));
  const at::Tensor bound =
      step * token_max * decoded.to(at::kDouble).abs().sum(1).unsqueeze(0) + 1e-5 * want.abs() + 1e-5;
  const at::Tensor excess = (got.to(at::kDouble) - want).abs() - bound;
  EXPECT_LE(excess.max().item<double>(), 0) << "error above the activation step's bound";
  EXPECT_GT((got.to(at::kDouble) - want).abs().max().item<double>(), 0) << "quantized, so not exact";
}

TEST(QuantizedLinear, Int8MmIsWithinTheActivationStepOfTheDecodedProduct) {
  if (!has_int8_matmul(c10::Device(c10::kCPU))) GTEST_SKIP() << "this libtorch has no int8 Linear on the CPU";
  at::manual_seed(4);
  const at::Tensor w = at::randn({48, 96});
  const io::QuantizedWeight q = io::quantize_int8_rows(w);
  const at::Tensor decoded = decode_weight(q.codes, q.scale);
  const at::Tensor bias = at::randn({48});
  const c10::IValue packed = pack_int8_weight(q.codes, q.scale);
  // Tokens of very different sizes, as a DiT's are.
  const at::Tensor x = (at::randn({2, 7, 96}) + 0.5) * at::pow(10.0, at::linspace(-2, 2, 14).view({2, 7, 1}));
  const at::Tensor got = quantized_linear(x, q.codes, q.scale, bias, {}, QuantizedMatmul::int8_mm, at::kFloat, packed);
  EXPECT_EQ(got.sizes(), (std::vector<int64_t>{2, 7, 48}));
  EXPECT_EQ(got.scalar_type(), at::kFloat);
  expect_within_activation_step(got.view({14, 48}), x.view({14, 96}), decoded, bias);
  // One scale for the whole tensor packs too.
  const at::Tensor one_scale = q.scale.max().reshape({1});
  const at::Tensor coarse = (decoded / one_scale).round().clamp(-127, 127).to(at::kChar);
  expect_within_activation_step(quantized_linear(x, coarse, one_scale, {}, {}, QuantizedMatmul::int8_mm, at::kFloat,
                                                 pack_int8_weight(coarse, one_scale))
                                    .view({14, 48}),
                                x.view({14, 96}), decode_weight(coarse, one_scale), at::zeros({48}));
  // bf16 in, bf16 out; a low-rank delta is added in full precision.
  const LowRankDelta delta{at::randn({4, 96}), at::randn({48, 4}), 0.5};
  const at::Tensor with_delta = quantized_linear(x, q.codes, q.scale, bias, {delta}, QuantizedMatmul::int8_mm,
                                                 at::kFloat, packed);
  EXPECT_TRUE(at::allclose(with_delta - got, at::linear(at::linear(x, delta.down), delta.up) * 0.5, 1e-4, 1e-4));
  EXPECT_EQ(quantized_linear(x.to(at::kBFloat16), q.codes, q.scale, bias, {}, QuantizedMatmul::int8_mm,
                             at::kBFloat16, packed)
                .scalar_type(),
            at::kBFloat16);
  EXPECT_THROW(quantized_linear(x, q.codes, q.scale, bias, {}, QuantizedMatmul::int8_mm, at::kFloat), InternalError);
}

// The worst case for int8 GEMMs without VNNI: every activation at the top of
// its uint8 grid and every weight at +-127, so two neighbouring products sum
// to 64770, past int16. Saturated, the result was 24% off (measured with full
// 8-bit activations on an AVX2 CPU); 7-bit activations keep it exact.
TEST(QuantizedLinear, Int8MmDoesNotSaturate) {
  if (!has_int8_matmul(c10::Device(c10::kCPU))) GTEST_SKIP() << "this libtorch has no int8 Linear on the CPU";
  at::manual_seed(6);
  const at::Tensor x = at::rand({16, 256}) * 0.5 + 0.5;
  const at::Tensor w = at::randint(0, 2, {32, 256}).to(at::kFloat) * 2 - 1;
  const io::QuantizedWeight q = io::quantize_int8_rows(w);
  ASSERT_TRUE(at::equal(q.codes.abs(), at::full({32, 256}, 127, at::kChar)));
  const at::Tensor got = quantized_linear(x, q.codes, q.scale, {}, {}, QuantizedMatmul::int8_mm, at::kFloat,
                                          pack_int8_weight(q.codes, q.scale));
  expect_within_activation_step(got, x, decode_weight(q.codes, q.scale), at::zeros({32}));
}

TEST(QuantizedLinear, MisfitsForScaledMmAreNamed) {
#if SORAGEN_TORCH_HAS_FLOAT8
  EXPECT_EQ(scaled_mm_misfit(at::kFloat8_e4m3fn, {48, 32}, {1}), "");
  EXPECT_EQ(scaled_mm_misfit(at::kFloat8_e4m3fn, {48, 32}, {}), "");
  EXPECT_EQ(scaled_mm_misfit(at::kFloat8_e4m3fn, {48, 32}, {48}), "its scales are per row, not one per tensor");
  EXPECT_EQ(scaled_mm_misfit(at::kFloat8_e4m3fn, {48, 24}, {1}), "its shape is not a multiple of 16 in both dimensions");
  EXPECT_EQ(scaled_mm_misfit(at::kChar, {48, 32}, {48}), "its codes are not float8 e4m3fn");
#else
  EXPECT_EQ(scaled_mm_misfit(at::kChar, {48, 32}, {48}), "this libtorch has no float8 dtype");
#endif
  // The CPU never claims an fp8 GEMM, whatever libtorch.
  EXPECT_FALSE(has_float8_matmul(c10::Device(c10::kCPU)));
}

TEST(QuantizedLinear, RequantizeKeepsTheScaleForm) {
  at::manual_seed(3);
  const at::Tensor w = at::randn({16, 32});
  const io::QuantizedWeight q = io::quantize_int8_rows(w);
  const auto [codes, scale] = requantize(w * 2, q.codes, q.scale);
  EXPECT_EQ(codes.scalar_type(), at::kChar);
  EXPECT_EQ(scale.sizes(), q.scale.sizes());
  // Within half a step of each row.
  EXPECT_TRUE(((decode_weight(codes, scale) - w * 2).abs() <= scale.view({-1, 1}) * 0.5 + 1e-6).all().item<bool>());
}

TEST(QuantizedDit, Int8KeptRendersAsTheDecodedModel) {
  const DitConfig config = aligned_config();
  const Tensors tensors = quantized_checkpoint(random_model(config), /*float8=*/false);
  const WanModel decoded = load(config, tensors, QuantizedWeights::decode, QuantizedMatmul::upcast);
  const WanModel kept = load(config, tensors, QuantizedWeights::keep, QuantizedMatmul::upcast);
  auto params = kept->named_parameters();
  EXPECT_EQ(params["blocks.0.self_attn.q.weight"].scalar_type(), at::kChar);
  EXPECT_EQ(params["blocks.1.ffn.2.weight"].scalar_type(), at::kChar);
  EXPECT_EQ(params["head.head.weight"].scalar_type(), at::kFloat);  // not a block weight: never quantized
  EXPECT_TRUE(at::equal(kept->named_buffers()["blocks.0.self_attn.q.scale_weight"],
                        tensors.at("blocks.0.self_attn.q.scale_weight")));
  EXPECT_EQ(decoded->named_parameters()["blocks.0.self_attn.q.weight"].scalar_type(), at::kFloat);
  const at::Tensor want = render(decoded, config);
  const at::Tensor got = render(kept, config);
  EXPECT_TRUE(at::allclose(got, want, 1e-5, 1e-5)) << (got - want).abs().max();
  // A scale that fits neither form names both tensors, kept or decoded.
  Tensors bad = tensors;
  bad["blocks.0.ffn.2.scale_weight"] = at::ones({3});
  for (const QuantizedWeights how : {QuantizedWeights::keep, QuantizedWeights::decode}) {
    EXPECT_THROW_WITH(load(config, bad, how, QuantizedMatmul::upcast), ModelError,
                      "tensor 'blocks.0.ffn.2.scale_weight' has shape [3], which does not scale "
                      "'blocks.0.ffn.2.weight'");
  }
}

const LinearImpl& linear_named(const WanModel& model, const std::string& name) {
  return dynamic_cast<const LinearImpl&>(*model->named_modules()[name]);
}

// The codes that int8_mm multiplies by: its packed weight, unpacked.
at::Tensor packed_codes(const LinearImpl& linear) {
  torch::jit::Stack stack{linear.int8_packed};
  c10::Dispatcher::singleton().findSchemaOrThrow("quantized::linear_unpack", "").callBoxed(&stack);
  return stack.front().toTensor().int_repr();
}

TEST(QuantizedDit, Int8KeptMultipliesInInt8OnTheCpu) {
  if (!has_int8_matmul(c10::Device(c10::kCPU))) GTEST_SKIP() << "this libtorch has no int8 Linear on the CPU";
  const DitConfig config = aligned_config();
  const Tensors tensors = quantized_checkpoint(random_model(config), /*float8=*/false);
  const WanModel decoded = load(config, tensors, QuantizedWeights::decode, QuantizedMatmul::upcast);
  WanModel int8 = load(config, tensors, QuantizedWeights::keep, QuantizedMatmul::int8_mm);
  const LinearImpl& q = linear_named(int8, "blocks.0.self_attn.q");
  EXPECT_EQ(q.matmul, QuantizedMatmul::int8_mm);
  EXPECT_TRUE(at::equal(packed_codes(q), tensors.at("blocks.0.self_attn.q.weight")));
  // Quantized activations: close to the decoded model, not equal to it.
  const at::Tensor want = render(decoded, config);
  const double error = relative_error(render(int8, config), want);
  EXPECT_GT(error, 1e-5);
  EXPECT_LT(error, 0.05);
  // A full-difference LoRA key requantizes the codes, and they are packed again.
  at::manual_seed(9);
  const Tensors lora{{"diffusion_model.blocks.1.ffn.0.diff", at::randn({64, 32}) * 0.01}};
  merge_lora(*int8, io::MemorySource("lora.safetensors", lora), 0.8, Logger());
  const LinearImpl& ffn0 = linear_named(int8, "blocks.1.ffn.0");
  EXPECT_FALSE(at::equal(ffn0.weight, tensors.at("blocks.1.ffn.0.weight")));
  EXPECT_TRUE(at::equal(packed_codes(ffn0), ffn0.weight));
}

TEST(QuantizedDit, Fp8KeptMultipliesInFp8) {
#if !SORAGEN_TORCH_HAS_FLOAT8
  GTEST_SKIP() << "libtorch " << TORCH_VERSION << " has no float8 dtype";
#else
  const DitConfig config = aligned_config();
  const Tensors tensors = quantized_checkpoint(random_model(config), /*float8=*/true);
  const WanModel decoded = load(config, tensors, QuantizedWeights::decode, QuantizedMatmul::upcast);
  const WanModel upcast = load(config, tensors, QuantizedWeights::keep, QuantizedMatmul::upcast);
  const WanModel fp8 = load(config, tensors, QuantizedWeights::keep, QuantizedMatmul::scaled_mm);
  EXPECT_EQ(fp8->named_parameters()["blocks.0.ffn.0.weight"].scalar_type(), at::kFloat8_e4m3fn);
  const at::Tensor want = render(decoded, config);
  const at::Tensor same = render(upcast, config);
  EXPECT_TRUE(at::allclose(same, want, 1e-5, 1e-5)) << (same - want).abs().max();
  // Quantized activations: close to the decoded model, not equal to it.
  const double error = relative_error(render(fp8, config), want);
  EXPECT_GT(error, 1e-5);
  EXPECT_LT(error, 0.05);
#endif
}

TEST(QuantizedDit, LorasOnKeptWeightsApplyAtRunTime) {
  const DitConfig config = aligned_config();
  const Tensors tensors = quantized_checkpoint(random_model(config), /*float8=*/false);
  WanModel decoded = load(config, tensors, QuantizedWeights::decode, QuantizedMatmul::upcast);
  WanModel kept = load(config, tensors, QuantizedWeights::keep, QuantizedMatmul::upcast);
  at::manual_seed(9);
  const Tensors lora{{"diffusion_model.blocks.0.self_attn.q.lora_A.weight", at::randn({4, 32}) * 0.1},
                     {"diffusion_model.blocks.0.self_attn.q.lora_B.weight", at::randn({32, 4}) * 0.1},
                     {"diffusion_model.blocks.1.ffn.0.diff", at::randn({64, 32}) * 0.01}};
  const io::MemorySource source("lora.safetensors", lora);
  merge_lora(*decoded, source, 0.8, Logger());
  const LoraMergeReport report = merge_lora(*kept, source, 0.8, Logger());
  EXPECT_EQ(report.merged, 2u);
  EXPECT_EQ(report.at_run_time, 1u);
  const auto params = kept->named_parameters();
  EXPECT_EQ(params["blocks.0.self_attn.q.weight"].scalar_type(), at::kChar);  // codes untouched, delta beside
  EXPECT_TRUE(at::equal(params["blocks.0.self_attn.q.weight"], tensors.at("blocks.0.self_attn.q.weight")));
  // The full difference went into new codes, within half a step of the sum.
  const at::Tensor scale = kept->named_buffers()["blocks.1.ffn.0.scale_weight"];
  const at::Tensor summed = decoded->named_parameters()["blocks.1.ffn.0.weight"];
  EXPECT_TRUE(((decode_weight(params["blocks.1.ffn.0.weight"], scale) - summed).abs() <= scale.view({-1, 1}) * 0.5 +
               1e-6)
                  .all()
                  .item<bool>());
  // Rendering: the low-rank part is exact, the requantized FFN within int8 steps.
  const at::Tensor want = render(decoded, config);
  const double error = relative_error(render(kept, config), want);
  EXPECT_LT(error, 0.02);
}

}  // namespace
}  // namespace soragen::dit::unit
