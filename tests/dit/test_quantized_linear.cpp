// Quantized weights kept as stored (src/dit/quantized_linear.h, --fp8-weights):
// the per-call decode gives the numbers of a load-time decode; the fp8 product
// (at::_scaled_mm, which libtorch 2.11 also runs on the CPU) equals the
// dynamic-scaling recipe worked out here in float64; a DiT loaded with its
// codes kept renders as the decoded one; LoRAs on kept weights apply at run
// time (low rank) or quantize again (full differences).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <string>

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
