// A tiled VAE decode whose tiles are shared among ranks (threads of this
// process, each with its own store connection and Gloo pairs): every rank
// gets the frames one process blends from all the tiles, within the golden
// VAE file's tolerance, also when a rank has no tile of its own.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <future>

#include "distributed/tensor_channel.h"
#include "free_port.h"
#include "golden_util.h"
#include "loopback_rank.h"
#include "soragen/distributed.h"
#include "vae/tiling.h"
#include "vae_test_util.h"

namespace soragen {
namespace {

using namespace std::chrono_literals;

// The decode of `z` split over `world` thread ranks; each rank's frames.
std::vector<at::Tensor> split_decode(const at::Tensor& z, const vae::TileOptions& tiling, int world) {
  const int port = test::free_loopback_port();
  std::vector<std::future<at::Tensor>> ranks;
  for (int r = 0; r < world; ++r) {
    ranks.push_back(std::async(std::launch::async, [&, r] {
      std::atomic<bool> stop{false};
      auto group = ProcessGroup::join(test::loopback_rank(r, world, port), 30s, &stop);
      const auto channel = distributed::open_tensor_channel(*group);
      vae::WanVAE model = vae::test::tiny_vae();
      const c10::InferenceMode inference;
      vae::DecodeOptions options;
      options.tiling = tiling;
      options.tiling.share = {r, world, [&](const at::Tensor& share) { return channel->sum(share); }};
      at::Tensor frames = model->decode(z, options);
      group->leave();
      return frames;
    }));
  }
  std::vector<at::Tensor> frames;
  for (auto& rank : ranks) frames.push_back(rank.get());
  return frames;
}

void expect_split_as_one(const at::Tensor& z, const vae::TileOptions& tiling, int world) {
  const soragen::test::GoldenFile golden(vae::test::tiny_vae_path());
  vae::WanVAE model = vae::test::tiny_vae();
  const c10::InferenceMode inference;
  vae::DecodeOptions options;
  options.tiling = tiling;
  const at::Tensor one = model->decode(z, options);
  const std::vector<at::Tensor> split = split_decode(z, tiling, world);
  for (int r = 0; r < world; ++r) {
    ASSERT_EQ(split[r].sizes(), one.sizes()) << "rank " << r;
    EXPECT_TRUE(at::allclose(split[r], one, golden.rtol(), golden.atol()))
        << "rank " << r << " of " << world << ": max |diff| " << (split[r] - one).abs().max().item<double>();
  }
}

// A seeded latent of two frames (the first decodes to one frame, the second
// to four) with the tiny VAE's z_dim, tiled 8/4, over each of `worlds`.
void expect_split_tiles(int64_t height, int64_t width, size_t tiles, const std::vector<int>& worlds) {
  at::manual_seed(static_cast<uint64_t>(height * 100 + width));
  const at::Tensor z = at::randn({1, vae::test::tiny_config().z_dim, 2, height, width});
  const vae::TileOptions tiling{8, 4};
  ASSERT_EQ(vae::tile_spans(height, 8, 4).size() * vae::tile_spans(width, 8, 4).size(), tiles);
  for (const int world : worlds) expect_split_as_one(z, tiling, world);
}

TEST(SplitDecode, TwelveTilesOverTwoAndThreeRanksBlendAsOneProcess) { expect_split_tiles(16, 20, 12, {2, 3}); }

TEST(SplitDecode, ARankWithoutTilesAddsNothing) { expect_split_tiles(8, 12, 2, {3}); }

}  // namespace
}  // namespace soragen
