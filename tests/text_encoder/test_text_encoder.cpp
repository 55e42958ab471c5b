// The encoder (src/text_encoder/text_encoder.cpp): the config cross-check
// against the weights, input checks, contexts, bf16, releasing weights.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "expect_throw.h"
#include "golden_util.h"
#include "io/dtypes.h"
#include "io/safetensors_writer.h"
#include "safetensors_test_util.h"
#include "soragen/error.h"
#include "test_util.h"
#include "text_encoder/text_encoder.h"
#include "text_encoder_unit_util.h"

namespace soragen::text_encoder {
namespace {

using namespace unit;

TEST(text_encoder_cross_check, LayerCountMismatchIsAnError) {
  const TinyModel m = tiny_model();
  UMT5Config config = m.config;
  config.num_layers = 2;
  config.origin = "config 'tiny.json'";
  EXPECT_ERROR(TextEncoder(config, io::MemorySource("tiny.pth", m.weights)), ModelError,
               "weights 'tiny.pth': has 3 encoder blocks (highest index 2), config 'tiny.json' says num_layers 2");
}

TEST(text_encoder_cross_check, WidthMismatchesAreErrors) {
  const TinyModel m = tiny_model();
  const io::MemorySource weights("tiny.pth", m.weights);
  UMT5Config vocab = m.config;
  vocab.vocab = 256384;
  EXPECT_ERROR(TextEncoder(vocab, weights), ModelError,
               "tensor 'token_embedding.weight' has shape [300,64], golden config implies [256384,64] (vocab, dim)");
  UMT5Config heads = m.config;
  heads.num_heads = 8;
  EXPECT_ERROR(TextEncoder(heads, weights), ModelError, "[32,4], golden config implies [32,8] (num_buckets, num_heads)");
  UMT5Config ffn = m.config;
  ffn.dim_ffn = 256;
  const io::MemorySource hf("hf.safetensors", renamed(m.weights, to_hf));
  EXPECT_ERROR(TextEncoder(ffn, hf), ModelError,
               "tensor 'encoder.block.0.layer.1.DenseReluDense.wi_1.weight' (as 'blocks.0.ffn.fc1.weight') has shape "
               "[128,64]");
}

TEST(text_encoder_cross_check, MissingTensorIsAnError) {
  TinyModel m = tiny_model();
  m.weights.erase("blocks.1.norm2.weight");
  EXPECT_ERROR(TextEncoder(m.config, io::MemorySource("tiny.pth", m.weights)), ModelError, "blocks.1.norm2.weight");
}



TEST(text_encoder_run, InputsAreChecked) {
  const TinyModel m = tiny_model();
  const TextEncoder encoder(m.config, io::MemorySource("tiny", m.weights));
  at::Tensor ids = m.ids.clone();
  ids[0][0] = m.config.vocab;
  EXPECT_ERROR(encoder.encode(ids, m.mask), ModelError, "token id 300 is outside the text encoder's vocabulary [0, 300)");
  EXPECT_ERROR(encoder.encode(m.ids, m.mask.slice(1, 0, 5)), InternalError, "mask has shape [2,5], ids [2,32]");
  EXPECT_ERROR(encoder.encode(m.ids.to(at::kFloat), m.mask), InternalError, "ids must be an integer tensor");
  EXPECT_ERROR(encoder.encode(m.ids, m.mask * 2), InternalError, "mask values must be 0 or 1");
}

TEST(text_encoder_run, ContextsAreTrimmedAndIndependentOfTheBatch) {
  const TinyModel m = tiny_model();
  const TextEncoder encoder(m.config, io::MemorySource("tiny", m.weights));
  const std::vector<at::Tensor> batched = encoder.encode(m.ids, m.mask);
  ASSERT_EQ(batched.size(), 2u);
  for (int64_t b = 0; b < 2; ++b) {
    const int64_t length = m.mask[b].sum().item<int64_t>();
    EXPECT_EQ(batched[b].sizes(), at::IntArrayRef({length, m.config.dim}));
    // One prompt per call, as the pipeline does: padding keys are masked, so
    // the other prompt and the padding do not change the result.
    const std::vector<at::Tensor> single = encoder.encode(m.ids.slice(0, b, b + 1), m.mask.slice(0, b, b + 1));
    ASSERT_EQ(single.size(), 1u);
    EXPECT_TRUE(at::allclose(single[0], batched[b], 1e-5, 1e-5))
        << "max |diff| " << (single[0] - batched[b]).abs().max().item<double>();
    // Only the real tokens: no padding, so a shorter pad gives the same rows.
    const std::vector<at::Tensor> short_pad =
        encoder.encode(m.ids.slice(0, b, b + 1).slice(1, 0, length), m.mask.slice(0, b, b + 1).slice(1, 0, length));
    EXPECT_TRUE(at::allclose(short_pad[0], batched[b], 1e-5, 1e-5))
        << "max |diff| " << (short_pad[0] - batched[b]).abs().max().item<double>();
  }
}

TEST(text_encoder_run, Bfloat16StaysCloseToFloat32) {
  const TinyModel m = tiny_model();
  const TextEncoder fp32(m.config, io::MemorySource("tiny", m.weights));
  EXPECT_FALSE(fp32.fp32_matmul());
  const at::Tensor reference = fp32.hidden_states(m.ids, m.mask);
  const double scale = reference.abs().max().item<double>();
  at::Tensor previous;
  for (const bool widen : {false, true}) {
    TextEncoderOptions options{c10::kCPU, at::kBFloat16};
    options.fp32_matmul = widen;
    const TextEncoder bf16(m.config, io::MemorySource("tiny", m.weights), options);
    EXPECT_EQ(bf16.fp32_matmul(), widen);
    for (const auto& param : bf16.module()->parameters()) EXPECT_EQ(param.scalar_type(), at::kBFloat16);
    const at::Tensor half = bf16.hidden_states(m.ids, m.mask);
    EXPECT_EQ(half.scalar_type(), at::kBFloat16);
    // bf16 is not comparable at the parity tolerance (golden README). The
    // reference itself, cast to bf16, moves this file's output by 0.313 at
    // most (of values up to 4.02) and 0.030 on average; a broken path (wrong
    // norm dtype, lost mask) moves it by the size of the values.
    const at::Tensor diff = (half.to(at::kFloat) - reference).abs();
    EXPECT_LT(diff.max().item<double>(), 0.15 * scale) << "widen " << widen;
    EXPECT_LT(diff.mean().item<double>(), 0.02 * scale) << "widen " << widen;
    EXPECT_GT(diff.max().item<double>(), 0.0);
    // Native and widened products differ only in summation order.
    if (previous.defined()) {
      EXPECT_LT((half.to(at::kFloat) - previous).abs().mean().item<double>(), 0.01 * scale);
    }
    previous = half.to(at::kFloat);
  }
}

// The encoder is the only owner of its weights: destroying it frees them
// even while its outputs are still in use.
TEST(text_encoder_run, DestroyingTheEncoderReleasesItsWeights) {
  const TinyModel m = tiny_model();
  auto encoder = std::make_unique<TextEncoder>(m.config, io::MemorySource("tiny", m.weights));
  std::vector<c10::weak_intrusive_ptr<c10::StorageImpl>> storages;
  for (const auto& param : encoder->module()->parameters()) {
    storages.emplace_back(param.storage().getWeakStorageImpl());
  }
  ASSERT_EQ(storages.size(), static_cast<size_t>(2 + 10 * m.config.num_layers));
  const std::vector<at::Tensor> contexts = encoder->encode(m.ids, m.mask);
  for (const auto& storage : storages) EXPECT_FALSE(storage.expired());
  encoder.reset();
  for (const auto& storage : storages) EXPECT_TRUE(storage.expired());
  EXPECT_TRUE(contexts[1].isfinite().all().item<bool>());
}

}  // namespace
}  // namespace soragen::text_encoder
