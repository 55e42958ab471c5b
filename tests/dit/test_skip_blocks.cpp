// WanModel::forward's skip_blocks (skip-layer guidance): skipping a block is
// the model without it, checked against a model built from the other blocks.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "dit_unit_util.h"
#include "soragen/error.h"

namespace soragen::dit::unit {
namespace {

TEST(SkipBlocks, SkippingABlockEqualsTheModelWithoutIt) {
  const c10::InferenceMode inference;
  nlohmann::json json = tiny_json();
  json["num_layers"] = 3;
  const DitConfig three = DitConfig::from_json(json, "three blocks");
  json["num_layers"] = 2;
  const DitConfig two = DitConfig::from_json(json, "two blocks");
  WanModel full(three);
  WanModel without_middle(two);
  at::manual_seed(5);
  for (auto& item : full->named_parameters()) item.value().copy_(at::randn(item.value().sizes()) * 0.2);
  // blocks.0 and blocks.2 of the full model are blocks.0 and blocks.1 here.
  const auto source = full->named_parameters();
  for (auto& item : without_middle->named_parameters()) {
    std::string name = item.key();
    if (name.rfind("blocks.1.", 0) == 0) name = "blocks.2." + name.substr(9);
    item.value().copy_(source[name]);
  }
  const at::Tensor latent = at::randn({4, 2, 4, 4});
  const at::Tensor context = at::randn({5, three.text_dim});
  const at::Tensor t = at::full({1}, 700.0);
  const int64_t seq_len = 2 * 2 * 2;
  const at::Tensor skipped = full->forward({latent}, t, {context}, seq_len, nullptr, {1}).front();
  const at::Tensor expected = without_middle->forward({latent}, t, {context}, seq_len).front();
  EXPECT_TRUE(at::allclose(skipped, expected, 1e-6, 1e-6)) << (skipped - expected).abs().max();
  // The block does something: not skipping it gives another output.
  const at::Tensor whole = full->forward({latent}, t, {context}, seq_len).front();
  EXPECT_GT((whole - skipped).abs().max().item<double>(), 1e-3);
  EXPECT_THROW_WITH(full->forward({latent}, t, {context}, seq_len, nullptr, {3}), InternalError,
                    "block 3 to skip; the model has 3");
}

}  // namespace
}  // namespace soragen::dit::unit
