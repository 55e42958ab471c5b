// DiT attention (src/dit/attention.cpp): the exact math path, chunking, masks, SDPA.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/torch_compat.h"
#include "dit/attention.h"
#include "dit/config.h"
#include "dit/flops.h"
#include "dit/key_maps.h"
#include "dit/rope.h"
#include "dit/wan_model.h"
#include "dit_test_util.h"
#include "dit_unit_util.h"
#include "expect_throw.h"
#include "io/tensor_source.h"
#include "soragen/error.h"
#include "test_util.h"

namespace soragen::dit {
namespace {

using nlohmann::json;
using namespace unit;

// softmax(q k^T / sqrt(d)) v per sample and head, float64, keys cut to the length.
at::Tensor naive_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           const std::vector<int64_t>& lens) {
  std::vector<at::Tensor> out;
  for (int64_t b = 0; b < q.size(0); ++b) {
    const int64_t len = lens.empty() ? k.size(1) : lens[b];
    const at::Tensor qb = q[b].to(at::kDouble).transpose(0, 1);  // [n, Lq, d]
    const at::Tensor kb = k[b].narrow(0, 0, len).to(at::kDouble).transpose(0, 1);
    const at::Tensor vb = v[b].narrow(0, 0, len).to(at::kDouble).transpose(0, 1);
    const at::Tensor p = (at::matmul(qb, kb.transpose(1, 2)) / std::sqrt(double(q.size(3)))).softmax(-1);
    out.push_back(at::matmul(p, vb).transpose(0, 1));
  }
  return at::stack(out);
}

struct AttentionInputs {
  at::Tensor q, k, v;
};

AttentionInputs random_attention(int64_t batch, int64_t lq, int64_t lk, int64_t heads, int64_t d) {
  at::manual_seed(7);
  return {at::randn({batch, lq, heads, d}), at::randn({batch, lk, heads, d}), at::randn({batch, lk, heads, d})};
}

TEST(DitAttention, MathPathIsExact) {
  const auto in = random_attention(2, 37, 29, 3, 8);
  AttentionOptions math;
  math.backend = AttentionBackend::math;
  for (const std::vector<int64_t>& lens : {std::vector<int64_t>{}, std::vector<int64_t>{29, 11}}) {
    const at::Tensor out = attention(in.q, in.k, in.v, lens, math);
    ASSERT_EQ(out.sizes(), in.q.sizes());
    EXPECT_EQ(out.scalar_type(), at::kFloat);
    EXPECT_LT((out.to(at::kDouble) - naive_attention(in.q, in.k, in.v, lens)).abs().max().item<double>(), 1e-5);
  }
}

// soragen-train differentiates through the math path (libtorch 1.13 has no
// SDPA): its in-place softmax must not overwrite what the backward needs,
// and the gradients are those of the float64 reference, with or without a
// mask. The forward without gradients is the in-place one, and equal.
TEST(DitAttention, MathPathDifferentiates) {
  const auto in = random_attention(2, 9, 7, 2, 4);
  AttentionOptions math;
  math.backend = AttentionBackend::math;
  for (const std::vector<int64_t>& lens : {std::vector<int64_t>{}, std::vector<int64_t>{7, 3}}) {
    const at::Tensor q = in.q.clone().requires_grad_(true);
    const at::Tensor k = in.k.clone().requires_grad_(true);
    const at::Tensor v = in.v.clone().requires_grad_(true);
    const at::Tensor out = attention(q, k, v, lens, math);
    const at::Tensor weights = at::randn(out.sizes());
    (out * weights).sum().backward();

    const at::Tensor q64 = in.q.to(at::kDouble).requires_grad_(true);
    const at::Tensor k64 = in.k.to(at::kDouble).requires_grad_(true);
    const at::Tensor v64 = in.v.to(at::kDouble).requires_grad_(true);
    (naive_attention(q64, k64, v64, lens) * weights.to(at::kDouble)).sum().backward();
    for (const auto& [got, want] : {std::pair{q, q64}, std::pair{k, k64}, std::pair{v, v64}}) {
      ASSERT_TRUE(got.grad().defined());
      EXPECT_LT((got.grad().to(at::kDouble) - want.grad()).abs().max().item<double>(), 1e-5);
    }
    EXPECT_TRUE(at::equal(out.detach(), attention(in.q, in.k, in.v, lens, math)));
  }
}

TEST(DitAttention, ChunkedQueriesEqualUnchunked) {
  const auto in = random_attention(2, 300, 300, 4, 16);
  const std::vector<int64_t> lens{300, 123};
  AttentionOptions whole;
  whole.backend = AttentionBackend::math;
  whole.max_score_bytes = int64_t{1} << 40;
  AttentionOptions chunked = whole;
  chunked.max_score_bytes = 2 * 2 * 4 * 300 * 4 * 7;  // 7 query rows per chunk, a ragged last chunk
  const at::Tensor a = attention(in.q, in.k, in.v, lens, whole);
  const at::Tensor b = attention(in.q, in.k, in.v, lens, chunked);
  EXPECT_LT((a - b).abs().max().item<float>(), 1e-6f);
  AttentionOptions one_row = whole;
  one_row.max_score_bytes = 1;  // never below one row
  EXPECT_LT((a - attention(in.q, in.k, in.v, lens, one_row)).abs().max().item<float>(), 1e-6f);
}

TEST(DitAttention, MaskedKeysDoNotMatter) {
  auto in = random_attention(2, 10, 12, 2, 8);
  AttentionOptions math;
  math.backend = AttentionBackend::math;
  const at::Tensor before = attention(in.q, in.k, in.v, {12, 5}, math);
  in.k[1].narrow(0, 5, 7).fill_(100.f);
  in.v[1].narrow(0, 5, 7).fill_(-100.f);
  const at::Tensor after = attention(in.q, in.k, in.v, {12, 5}, math);
  EXPECT_TRUE(at::equal(before, after));
  EXPECT_THROW(attention(in.q, in.k, in.v, {12, 0}, math), InternalError);
  EXPECT_THROW(attention(in.q, in.k, in.v, {12}, math), InternalError);
}

// A float mask is added to the scores: log(n) on one key weighs it as n
// copies of that key (what the DiT's compacted text padding relies on).
TEST(DitAttention, ALogCountBiasEqualsRepeatedKeys) {
  const auto in = random_attention(2, 9, 4, 2, 8);
  const int64_t copies = 5;
  // Keys 0-2 once each, key 3 `copies` times.
  const at::Tensor k_repeated = at::cat({in.k, in.k.narrow(1, 3, 1).expand({2, copies - 1, 2, 8})}, 1);
  const at::Tensor v_repeated = at::cat({in.v, in.v.narrow(1, 3, 1).expand({2, copies - 1, 2, 8})}, 1);
  const at::Tensor bias = at::zeros({2, 1, 1, 4});
  bias.narrow(3, 3, 1).fill_(std::log(static_cast<double>(copies)));
  const at::Tensor expected = naive_attention(in.q, k_repeated, v_repeated, {});
  std::vector<AttentionBackend> backends{AttentionBackend::math};
  if (SORAGEN_TORCH_HAS_SDPA) backends.push_back(AttentionBackend::sdpa);
  for (const AttentionBackend backend : backends) {
    AttentionOptions options;
    options.backend = backend;
    const at::Tensor out = masked_attention(in.q, in.k, in.v, bias, options);
    EXPECT_LT((out.to(at::kDouble) - expected).abs().max().item<double>(), 1e-5) << attention_uses_sdpa(backend);
  }
}

TEST(DitAttention, FusedBackendMatchesMath) {
  const auto in = random_attention(2, 33, 21, 2, 16);
  AttentionOptions math;
  math.backend = AttentionBackend::math;
  AttentionOptions fused;
  fused.backend = AttentionBackend::sdpa;
  if (!SORAGEN_TORCH_HAS_SDPA) {
    EXPECT_FALSE(attention_uses_sdpa(AttentionBackend::automatic));
    EXPECT_THROW_WITH(attention(in.q, in.k, in.v, {}, fused), UsageError, "libtorch >= 2.0");
    return;
  }
  for (const std::vector<int64_t>& lens : {std::vector<int64_t>{}, std::vector<int64_t>{21, 9}}) {
    const at::Tensor diff = attention(in.q, in.k, in.v, lens, fused) - attention(in.q, in.k, in.v, lens, math);
    EXPECT_LT(diff.abs().max().item<float>(), 1e-5f);
  }
}

}  // namespace
}  // namespace soragen::dit
