// umT5 relative position buckets (src/text_encoder/umt5.cpp).
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

TEST(text_encoder_bucket, HandComputedValuesForXxl) {
  // rel = key - query; 16 buckets per direction, rel > 0 in the upper half,
  // |rel| < 8 exact, then 8 + trunc(log(|rel|/8) / log(16) * 8), at most 15.
  const std::vector<std::pair<int64_t, int64_t>> cases = {
      {0, 0},    {-1, 1},    {1, 17},    {-7, 7},    {7, 23},    {-8, 8},   {8, 24},    {-11, 8},
      {-12, 9},  {12, 25},   {-20, 10},  {20, 26},   {-100, 15}, {-127, 15}, {-128, 15}, {-511, 15},
      {127, 31}, {128, 31},  {511, 31},  {-40, 12},  {40, 28}};
  const UMT5Config config = xxl();
  for (const auto& [rel, bucket] : cases) {
    EXPECT_EQ(relative_position_bucket(at::tensor({rel}, at::kLong), config).item<int64_t>(), bucket) << "rel " << rel;
  }
}

TEST(text_encoder_bucket, FollowsTheConfig) {
  nlohmann::json json = xxl_json();
  json["num_buckets"] = 64;  // 32 per direction, 16 exact
  json["max_dist"] = 256;
  const UMT5Config config = UMT5Config::from_json(json, "test");
  // 16 + trunc(log(40/16) / log(16) * 16) = 16 + trunc(5.29) = 21
  EXPECT_EQ(relative_position_bucket(at::tensor({int64_t{-40}}), config).item<int64_t>(), 21);
  EXPECT_EQ(relative_position_bucket(at::tensor({int64_t{15}}), config).item<int64_t>(), 47);
  EXPECT_EQ(relative_position_bucket(at::tensor({int64_t{300}}), config).item<int64_t>(), 63);
}

TEST(text_encoder_bucket, MonotoneInDistanceAndInRange) {
  const UMT5Config config = xxl();
  const at::Tensor dist = at::arange(0, 2000, at::kLong);
  const at::Tensor left = relative_position_bucket(-dist, config);
  const at::Tensor right = relative_position_bucket(dist.slice(0, 1), config);
  EXPECT_TRUE((left.slice(0, 1) >= left.slice(0, 0, -1)).all().item<bool>());
  EXPECT_TRUE((right.slice(0, 1) >= right.slice(0, 0, -1)).all().item<bool>());
  EXPECT_EQ(left.min().item<int64_t>(), 0);
  EXPECT_EQ(left.max().item<int64_t>(), 15);
  EXPECT_EQ(right.min().item<int64_t>(), 17);
  EXPECT_EQ(right.max().item<int64_t>(), 31);
}

}  // namespace
}  // namespace soragen::text_encoder
