// The DiT FLOP count (src/dit/flops.cpp).
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

TEST(DitFlops, HandComputedTinyCase) {
  // dim 12, 2 heads, ffn 8, freq 4, text 3 wide x 2 rows, 2 -> 2 channels,
  // 1x1x1 patches, one layer, 3 tokens.
  json j = {{"patch_size", {1, 1, 1}}, {"text_len", 2}, {"in_dim", 2}, {"dim", 12}, {"ffn_dim", 8},
            {"freq_dim", 4}, {"text_dim", 3}, {"out_dim", 2}, {"num_heads", 2}, {"num_layers", 1},
            {"window_size", {-1, -1}}, {"qk_norm", true}, {"cross_attn_norm", true}, {"eps", 1e-6}};
  const DitConfig c = DitConfig::from_json(j, "flops");
  const DitFlops f = dit_forward_flops(c, 3);
  EXPECT_EQ(f.patch_embedding, 2 * 3 * 2 * 12);                            // 144
  EXPECT_EQ(f.time_embedding, 2 * (4 * 12 + 12 * 12 + 12 * 72));          // 2112
  EXPECT_EQ(f.text_embedding, 2 * 2 * (3 * 12 + 12 * 12));                // 720
  EXPECT_EQ(f.self_attention_projections, 4 * 2 * 3 * 12 * 12);           // 3456
  EXPECT_EQ(f.self_attention_scores, 2 * 2 * 3 * 3 * 12);                 // 432
  EXPECT_EQ(f.cross_attention_projections, 2 * 2 * 3 * 144 + 2 * 2 * 2 * 144);  // 2880
  EXPECT_EQ(f.cross_attention_scores, 2 * 2 * 3 * 2 * 12);                // 288
  EXPECT_EQ(f.ffn, 2 * 2 * 3 * 12 * 8);                                   // 1152
  EXPECT_EQ(f.head, 2 * 3 * 12 * 2);                                      // 144
  EXPECT_EQ(f.total(), 144 + 2112 + 720 + 3456 + 432 + 2880 + 288 + 1152 + 144);
  EXPECT_EQ(dit_forward_flops(c, 3, 2).total(), 2 * f.total());
}

TEST(DitFlops, FullSizeOrderOfMagnitude) {
  // Wan2.1 1.3B at 81x480x832 (32760 tokens): about 2.83e14 FLOPs per call,
  // 70% of it the quadratic self-attention (2*2*L^2*dim*layers).
  const DitConfig c = DitConfig::from_file(configs_dir() / "wan2.1-t2v-1.3b.json");
  const DitFlops f = dit_forward_flops(c, 32760);
  EXPECT_EQ(f.self_attention_scores, int64_t{4} * 32760 * 32760 * 1536 * 30);
  EXPECT_EQ(f.ffn, int64_t{4} * 32760 * 1536 * 8960 * 30);
  EXPECT_GT(f.total(), int64_t{282} * 1000 * 1000 * 1000 * 1000);
  EXPECT_LT(f.total(), int64_t{284} * 1000 * 1000 * 1000 * 1000);
}

}  // namespace
}  // namespace soragen::dit
