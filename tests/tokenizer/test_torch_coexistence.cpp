// docs/platform.md, trap 1: a process holding libtorch (this binary links
// soragen_engine) and sentencepiece crashes before main() when sentencepiece is
// linked directly. Through the dlopen()ed shim, both work in one process, in
// either order.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <vector>

#include "soragen/log.h"
#include "tokenizer/tokenizer_test_util.h"
#include "tokenizer/tokenizer.h"

namespace soragen::tokenizer {
namespace {

// [[0,1,2],[3,4,5]] @ [[1,2],[1,2],[1,2]] = [[3,6],[12,24]]
void expect_matmul_works() {
  const at::Tensor a = at::arange(6, at::kFloat).reshape({2, 3});
  const at::Tensor b = at::tensor({1.0f, 2.0f}).repeat({3, 1});
  const at::Tensor c = at::matmul(a, b);
  EXPECT_TRUE(at::equal(c, at::tensor({3.0f, 6.0f, 12.0f, 24.0f}).reshape({2, 2}))) << c;
}

TEST(TorchCoexistence, TokenizerAndLibtorchRunInOneProcess) {
  expect_matmul_works();
  const Tokenizer tok = Tokenizer::load(testing::tiny_model_path(), 6, Logger());
  Tokenized t = tok.encode("A cat");
  EXPECT_EQ(t.ids, (std::vector<int64_t>{9, 50, 11, 1, 0, 0}));
  expect_matmul_works();

  // The ids feed the text encoder as a tensor.
  const at::Tensor ids =
      at::from_blob(t.ids.data(), {1, static_cast<int64_t>(t.ids.size())}, at::kLong).clone();
  EXPECT_EQ(ids.sum().item<int64_t>(), 9 + 50 + 11 + 1);
  EXPECT_EQ(at::embedding(at::eye(400), ids).argmax(-1)[0][1].item<int64_t>(), 50);
}

}  // namespace
}  // namespace soragen::tokenizer
