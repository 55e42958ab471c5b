#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "io/tensor_source.h"
#include "io/unpickler.h"
#include "io_test_util.h"
#include "soragen/error.h"

namespace soragen::io {
namespace {

using namespace std::string_literals;
using testing::data_dir;

std::unique_ptr<TensorSource> fixture(const std::string& name) { return open_weights(data_dir() / "io" / name); }

// Values written by tests/data/io/make_pth_fixtures.py with Python's torch.save.
TEST(Pth, ReadsAStateDictWrittenByPython) {
  auto source = fixture("state_dict.pth");
  EXPECT_EQ(source->format(), "pth");
  EXPECT_TRUE(source->metadata().empty());
  EXPECT_EQ(source->size(), 15u);

  const at::Tensor half = (at::arange(12, at::kFloat).reshape({3, 4}) / 4).to(at::kHalf);
  const at::Tensor base = at::arange(12, at::kFloat).reshape({3, 4});
  const std::map<std::string, at::Tensor> expected = {
      {"linear.weight", at::arange(6, at::kFloat).reshape({2, 3}) * 0.5 - 1},
      {"half", half},
      {"half_t", half.t()},
      {"row", base[1]},
      {"col", base.select(1, 2)},
      {"bf16", at::tensor({1.5f, -2.25f, 3.0e38f}).to(at::kBFloat16)},
      {"steps", at::tensor({int64_t{1}, int64_t{-2}, int64_t{1} << 40})},
      {"i32", at::tensor({-5, 7}).to(at::kInt)},
      {"i16", at::tensor({-300, 300}).to(at::kShort)},
      {"i8", at::tensor({-128, 127}).to(at::kChar)},
      {"u8", at::tensor({0, 255}).to(at::kByte)},
      {"f64", at::tensor({0.1}).to(at::kDouble)},
      {"flag", at::tensor({1, 0, 1}).to(at::kBool)},
      {"scalar", at::scalar_tensor(3.25, at::kFloat)},
      {"param", at::full({2}, 7.0f)},
  };
  for (const auto& [name, want] : expected) {
    ASSERT_TRUE(source->contains(name)) << name;
    const at::Tensor got = source->load(name);
    EXPECT_EQ(got.scalar_type(), want.scalar_type()) << name;
    EXPECT_EQ(got.sizes(), want.sizes()) << name;
    EXPECT_TRUE(got.is_contiguous()) << name;
    EXPECT_TRUE(at::equal(got, want)) << name << ": " << got << " vs " << want;
    EXPECT_EQ(source->info(name).shape, want.sizes().vec()) << name;
  }
  EXPECT_EQ(source->info("bf16").dtype, "BF16");
  EXPECT_EQ(source->info("steps").dtype, "I64");
  EXPECT_EQ(source->info("half_t").shape, (std::vector<int64_t>{4, 3}));
}

TEST(Pth, FlattensAPlainNestedDictAndSkipsNonTensors) {
  auto source = fixture("plain_dict.pth");
  EXPECT_EQ(source->names(), (std::vector<std::string>{"a", "nested.b"}));
  EXPECT_TRUE(at::equal(source->load("a"), at::tensor({1.f, 2.f})));
  EXPECT_EQ(source->load("nested.b").item<int64_t>(), 3);
}

TEST(Pth, RefusesATruncatedArchive) {
  EXPECT_THROW_WITH(fixture("truncated.pth"), ModelError, "not a readable PyTorch zip archive");
}

TEST(Pth, RefusesAForbiddenGlobalWithoutRunningIt) {
  const std::filesystem::path marker = "/tmp/soragen_io_test_pwned";
  std::filesystem::remove(marker);
  EXPECT_THROW_WITH(fixture("evil.pth"), ModelError, "asks for global 'posix.system'");
  EXPECT_FALSE(std::filesystem::exists(marker));
}

// Hand-written pickles for what Python's torch.save never produces.
class Unpickle : public ::testing::Test {
 protected:
  static std::vector<std::pair<std::string, PickledTensor>> run(const std::string& pickle,
                                                                const PickleLimits& limits = {}) {
    return unpickle_state_dict(reinterpret_cast<const uint8_t*>(pickle.data()), pickle.size(), "weights 'x': ",
                               limits);
  }
  static void expect_error(const std::string& pickle, const std::string& fragment, const PickleLimits& limits = {}) {
    EXPECT_THROW_WITH(run(pickle, limits), ModelError, fragment);
  }
};

// PROTO 2, EMPTY_DICT, BINPUT 0
const std::string kDictStart = std::string("\x80\x02}q\x00", 5);

TEST_F(Unpickle, AcceptsAnEmptyDict) { EXPECT_TRUE(run(kDictStart + ".").empty()); }

TEST_F(Unpickle, RefusesForbiddenGlobals) {
  for (const char* global : {"builtins\neval\n", "os\nsystem\n", "posix\nsystem\n", "torch\nload\n",
                             "torch._utils\n_rebuild_qtensor\n", "collections\ndefaultdict\n"}) {
    expect_error(kDictStart + "c" + global + ")R.", "asks for global");
  }
  // STACK_GLOBAL spelling of the same thing.
  expect_error(kDictStart + "X\x08\0\0\0builtinsX\x04\0\0\0eval\x93)R."s, "asks for global 'builtins.eval'");
}

TEST_F(Unpickle, RefusesMalformedStreams) {
  expect_error(kDictStart, "ends in the middle");
  expect_error(std::string("\x80\x02", 2) + "\xff", "opcode 0xff");
  expect_error(std::string("\x80\x02", 2) + "h\x05.", "memo entry 5");
  expect_error(std::string("\x80\x02", 2) + "0", "empty stack");
  expect_error(std::string("\x80\x02", 2) + "K\x01.", "holds a int, expected a dict");
  expect_error(std::string("\x80\x02", 2) + "X\xff\xff\xff\x7f", "over the limit");
  expect_error(std::string("\x80\x02", 2) + std::string(100, '(') + ")", "nests MARKs deeper");
  expect_error(std::string("\x80\x02", 2) + "K\x01" + std::string(100, '\x85'), "nests containers deeper");
  expect_error(std::string("\x80\x02", 2) + "cos\nsystem", "without a newline");
  expect_error(std::string("\x80\x02K\x01)b.", 7), "sets state on a int");
}

TEST_F(Unpickle, EnforcesStackAndMemoLimits) {
  PickleLimits small;
  small.max_stack = 8;
  small.max_memo = 2;
  std::string many = std::string("\x80\x02", 2);
  for (int i = 0; i < 9; ++i) many += "K\x01";
  expect_error(many, "stack grows past 8", small);
  expect_error(kDictStart + "q\x01q\x02.", "memoizes more than 2", small);
}

TEST_F(Unpickle, ReadsATensorRecord) {
  // {'w': _rebuild_tensor_v2(('storage', FloatStorage, '0', 'cpu', 6), 2, (2,), (3,), False, OrderedDict())}
  const std::string pickle = kDictStart + "X\x01\0\0\0w"s + "ctorch._utils\n_rebuild_tensor_v2\n" +
                             "((X\x07\0\0\0storagectorch\nFloatStorage\nX\x01\0\0\0" "0X\x03\0\0\0cpuK\x06tQ"s +
                             "K\x02K\x02\x85K\x03\x85\x89" + "ccollections\nOrderedDict\n)R" + "tR" + "s.";
  const auto out = run(pickle);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].first, "w");
  EXPECT_EQ(out[0].second.storage_type, "FloatStorage");
  EXPECT_EQ(out[0].second.storage_key, "0");
  EXPECT_EQ(out[0].second.storage_offset, 2);
  EXPECT_EQ(out[0].second.sizes, (std::vector<int64_t>{2}));
  EXPECT_EQ(out[0].second.strides, (std::vector<int64_t>{3}));
}

}  // namespace
}  // namespace soragen::io
