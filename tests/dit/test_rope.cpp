// RoPE of the DiT (src/dit/rope.cpp): the head-dimension split, the table and the rotations.
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

TEST(DitRope, SplitOfHeadDim128Is22_21_21) {
  const RopeSplit split = rope_split(128);
  EXPECT_EQ(split.frame, 22);
  EXPECT_EQ(split.height, 21);
  EXPECT_EQ(split.width, 21);
  const RopeSplit small = rope_split(16);  // the golden file's head_dim
  EXPECT_EQ(small.frame, 4);
  EXPECT_EQ(small.height, 2);
  EXPECT_EQ(small.width, 2);
  const RopeSplit minimal = rope_split(6);
  EXPECT_EQ(minimal.frame + minimal.height + minimal.width, 3);
  EXPECT_EQ(minimal.height, 1);
}

TEST(DitRope, TableHasPerPartFrequencies) {
  const RopeTable table(128, 1024, 10000.0);
  ASSERT_EQ(table.cos().sizes(), (std::vector<int64_t>{1024, 64}));
  EXPECT_EQ(table.cos().scalar_type(), at::kDouble);
  // Frame part: 22 pairs of a 44-wide rotation; height and width: 21 of 42.
  EXPECT_DOUBLE_EQ(table.cos()[7][3].item<double>(), std::cos(7.0 / std::pow(10000.0, 6.0 / 44.0)));
  EXPECT_DOUBLE_EQ(table.sin()[5][22 + 3].item<double>(), std::sin(5.0 / std::pow(10000.0, 6.0 / 42.0)));
  EXPECT_DOUBLE_EQ(table.sin()[9][43 + 20].item<double>(), std::sin(9.0 / std::pow(10000.0, 40.0 / 42.0)));
  EXPECT_DOUBLE_EQ(table.cos()[0][10].item<double>(), 1.0);
}

TEST(DitRope, RotationsFollowTheTokenGrid) {
  const RopeTable table(16, 64, 10000.0);  // pairs 4 / 2 / 2
  const std::vector<Grid> grids{{2, 3, 4}, {1, 2, 2}};
  const auto rot = table.rotations(grids, 24, at::kCPU);
  ASSERT_EQ(rot[0].sizes(), (std::vector<int64_t>{2, 24, 1, 8}));
  // Token (f=1, h=2, w=3) is index 1*12 + 2*4 + 3 = 23.
  const at::Tensor row = rot[0][0][23][0];
  for (int64_t j = 0; j < 4; ++j) EXPECT_DOUBLE_EQ(row[j].item<double>(), table.cos()[1][j].item<double>());
  for (int64_t j = 4; j < 6; ++j) EXPECT_DOUBLE_EQ(row[j].item<double>(), table.cos()[2][j].item<double>());
  for (int64_t j = 6; j < 8; ++j) EXPECT_DOUBLE_EQ(row[j].item<double>(), table.cos()[3][j].item<double>());
  // Sample 1 has 4 tokens; the padding after them is not rotated.
  EXPECT_TRUE(at::equal(rot[0][1].narrow(0, 4, 20), at::ones({20, 1, 8}, at::kDouble)));
  EXPECT_TRUE(at::equal(rot[1][1].narrow(0, 4, 20), at::zeros({20, 1, 8}, at::kDouble)));
  EXPECT_THROW(table.rotations({{2, 3, 4}}, 10, at::kCPU), InternalError);
  EXPECT_THROW(table.rotations({{1, 65, 1}}, 100, at::kCPU), InternalError);
}

TEST(DitRope, RotatesInterleavedPairs) {
  const RopeTable table(6, 8, 10000.0);  // one pair per axis
  const at::Tensor x = at::arange(1, 7, at::kFloat).view({1, 1, 1, 6});
  const auto rot = table.rotations({{1, 1, 1}}, 1, at::kCPU);
  // Position 0 everywhere: the identity.
  EXPECT_TRUE(at::equal(apply_rope(x, rot), x));
  const at::Tensor x2 = at::arange(1, 13, at::kFloat).view({1, 2, 1, 6});
  const auto rot2 = table.rotations({{2, 1, 1}}, 2, at::kCPU);
  const at::Tensor y = apply_rope(x2, rot2);
  // Token 1 is at frame 1: pair (x[0], x[1]) = (7, 8) turns by angle 1 (first frequency).
  EXPECT_NEAR(y[0][1][0][0].item<float>(), 7 * std::cos(1.0) - 8 * std::sin(1.0), 1e-5);
  EXPECT_NEAR(y[0][1][0][1].item<float>(), 7 * std::sin(1.0) + 8 * std::cos(1.0), 1e-5);
  // Pairs 1 and 2 (row, column) are at position 0.
  EXPECT_TRUE(at::equal(y[0][1][0].narrow(0, 2, 4), x2[0][1][0].narrow(0, 2, 4)));
}

// Inference on the CPU rotates in one pass; with gradients (training) the
// tensor expression runs. Both must give the same bits, in every dtype the
// DiT computes in, on a ragged batch (padding tokens are not rotated).
TEST(DitRope, OnePassEqualsTheTensorExpressionBitForBit) {
  const RopeTable table(16, 64, 10000.0);
  const auto rot = table.rotations({{2, 3, 4}, {1, 2, 2}}, 24, at::kCPU);
  at::manual_seed(3);
  const at::Tensor base = at::randn({2, 24, 3, 16}).mul_(40);
  for (const at::ScalarType dtype : {at::kFloat, at::kBFloat16, at::kDouble}) {
    SCOPED_TRACE(c10::toString(dtype));
    const at::Tensor x = base.to(dtype);
    const at::Tensor one_pass = apply_rope(x, rot);
    const at::Tensor tracked = x.detach().clone().requires_grad_(true);
    const at::Tensor expression = apply_rope(tracked, rot);
    ASSERT_TRUE(expression.requires_grad());  // the autograd path ran
    EXPECT_EQ(one_pass.scalar_type(), dtype);
    EXPECT_TRUE(at::equal(one_pass, expression.detach()));
    // A view that is not contiguous (as q after a transpose) rotates the same.
    const at::Tensor strided = x.transpose(1, 2).contiguous().transpose(1, 2);
    ASSERT_FALSE(strided.is_contiguous());
    EXPECT_TRUE(at::equal(apply_rope(strided, rot), one_pass));
  }
}

}  // namespace
}  // namespace soragen::dit
