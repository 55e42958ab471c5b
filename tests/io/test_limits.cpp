// The size limits that make hostile weights harmless, and files that change
// or misbehave under the reader: each is refused with one clear line.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "io/bus_guard.h"
#include "io/mapped_file.h"
#include "io/pth.h"
#include "io/safetensors.h"
#include "io/tensor_source.h"
#include "io/unpickler.h"
#include "io_test_util.h"
#include "soragen/error.h"

namespace soragen::io {
namespace {

using namespace std::string_literals;
using nlohmann::json;
using testing::data_dir;
using testing::entry;
using testing::safetensors_bytes;
using testing::ScratchDir;
using testing::write_file;

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::shared_ptr<const MappedFile> buffer(const std::string& bytes) {
  return MappedFile::from_bytes("limits.safetensors", bytes);
}

TEST(SafetensorsLimits, TensorCountAndRank) {
  json header;
  for (const char* name : {"a", "b", "c"}) header[name] = entry("F32", {1}, 0, 0);
  header["a"] = entry("F32", {1}, 0, 4);
  header["b"] = entry("F32", {1}, 4, 8);
  header["c"] = entry("F32", {1}, 8, 12);
  header["__metadata__"] = {{"format", "pt"}};
  const std::string file = safetensors_bytes(header.dump(), std::string(12, '\0'));
  SafetensorsLimits two;
  two.max_tensors = 2;
  EXPECT_THROW_WITH(open_safetensors(buffer(file), two), ModelError, "header lists 3 tensors, more than the limit of 2");
  SafetensorsLimits three;
  three.max_tensors = 3;  // __metadata__ is no tensor
  EXPECT_EQ(open_safetensors(buffer(file), three)->size(), 3u);

  header = json::object();
  header["w"] = entry("F32", std::vector<int64_t>(17, 1), 0, 4);
  EXPECT_THROW_WITH(open_safetensors(buffer(safetensors_bytes(header.dump(), std::string(4, '\0')))), ModelError,
                    "tensor 'w' has 17 dimensions, more than the limit of 16");
}

TEST(SafetensorsLimits, DataMustFitTheFile) {
  // Header length, offsets past the data and overlaps are covered in
  // test_safetensors.cpp; this is the total-bytes case on a buffer.
  json header;
  header["w"] = entry("F32", {1u << 20}, 0, 4u << 20);
  EXPECT_THROW_WITH(open_safetensors(buffer(safetensors_bytes(header.dump(), std::string(16, '\0')))), ModelError,
                    "outside the data area of 16 bytes");
}

// A file truncated after its header was read: load() sees it and names the
// tensor instead of touching the vanished pages.
TEST(MappedWeights, TruncatedBeforeLoadIsAClearError) {
  ScratchDir dir;
  json header;
  header["w"] = entry("F32", {4096}, 0, 4 * 4096);
  write_file(dir / "w.safetensors", safetensors_bytes(header.dump(), std::string(4 * 4096, '\1')));
  const auto source = open_weights(dir / "w.safetensors");
  std::filesystem::resize_file(dir / "w.safetensors", 100);
  EXPECT_THROW_WITH(source->load("w"), ModelError, "tensor 'w' lies past the end of the file, which shrank");
}

// Truncated after load() handed out a tensor over the mapping: the read would
// raise SIGBUS; the guard turns it into zeros and a later error.
TEST(MappedWeights, TruncatedWhileMappedIsAnErrorNotACrash) {
  ScratchDir dir;
  const int64_t n = 64 * 1024;  // 256 KiB: many pages past the new end
  json header;
  header["w"] = entry("F32", {n}, 0, 4 * n);
  std::string data(4 * n, '\0');
  for (int64_t i = 0; i < n; ++i) reinterpret_cast<float*>(data.data())[i] = 1.f;
  std::string text = header.dump();
  text.resize((text.size() + 7) / 8 * 8, ' ');  // aligned data: load() returns a view of the mapping
  write_file(dir / "w.safetensors", safetensors_bytes(text, data));
  const auto file = MappedFile::open(dir / "w.safetensors");
  const auto source = open_safetensors(file);
  const at::Tensor w = source->load("w");
  EXPECT_NO_THROW(check_mappings_intact());
  std::filesystem::resize_file(dir / "w.safetensors", 0);
  const double sum = w.sum().item<double>();  // SIGBUS without the guard
  EXPECT_LT(sum, static_cast<double>(n));
  EXPECT_THROW_WITH(check_mappings_intact(), ModelError, "the file shrank while it was being read");
  EXPECT_THROW_WITH(file->check_intact(), ModelError, "shrank from");
}

// Opening a FIFO for reading waits for a writer forever; it must be refused
// at once (the weights "file" that cannot be read, even by root).
TEST(MappedWeights, AFifoIsRefusedWithoutHanging) {
  ScratchDir dir;
  ASSERT_EQ(::mkfifo((dir / "w.safetensors").c_str(), 0600), 0);
  EXPECT_THROW_WITH(open_weights(dir / "w.safetensors"), ModelError, "is not a regular file");
  ASSERT_EQ(::mkfifo((dir / "w.pth").c_str(), 0600), 0);
  EXPECT_THROW_WITH(open_pth(dir / "w.pth"), ModelError, "is not a regular file");
}

// Patches the central directory of a real archive so that a record claims
// more bytes than the archive holds; libtorch's reader would allocate them.
TEST(PthLimits, ARecordLargerThanTheArchiveIsRefused) {
  std::string bytes = read_bytes(data_dir() / "io" / "plain_dict.pth");
  const size_t entry_at = bytes.find("PK\x01\x02"s);
  ASSERT_NE(entry_at, std::string::npos);
  for (int i = 0; i < 4; ++i) bytes[entry_at + 24 + i] = '\x7f';  // uncompressed size
  EXPECT_THROW_WITH(open_pth(MappedFile::from_bytes("big.pth", bytes)), ModelError, "(damaged, or a zip bomb)");
  EXPECT_THROW_WITH(open_pth(MappedFile::from_bytes("short.pth", bytes.substr(0, 10))), ModelError,
                    "too short for a zip directory");
}

// Found by fuzz_pth: a record name mutated in the directory makes libtorch's
// reader throw from its constructor (and leak its state, suppressed in
// tests/lsan.supp). It must stay a ModelError.
TEST(PthLimits, FuzzFoundRenamedRecord) {
  EXPECT_THROW(open_pth(data_dir() / "io" / "fuzz" / "pth-renamed-record.pth"), ModelError);
}

class PickleLimitsTest : public ::testing::Test {
 protected:
  static void expect_error(const std::string& pickle, const std::string& fragment, const PickleLimits& limits = {}) {
    EXPECT_THROW_WITH(unpickle_state_dict(reinterpret_cast<const uint8_t*>(pickle.data()), pickle.size(),
                                          "weights 'x': ", limits),
                      ModelError, fragment);
  }
};

// One dict memoized and stored under two keys at every level doubles the
// names at each level: 2^depth entries from a few hundred bytes.
std::string doubling_pickle(int levels) {
  std::string p = "\x80\x02}q\x00"s;  // inner dict, memo 0
  for (int i = 0; i < levels; ++i) {
    // new dict, SETITEM "a" -> memo i, SETITEM "b" -> memo i, memoize as i+1
    p += "}X\x01\0\0\0ah"s + static_cast<char>(i) + "sX\x01\0\0\0bh"s + static_cast<char>(i) + "sq"s +
         static_cast<char>(i + 1);
  }
  return p + ".";
}

TEST_F(PickleLimitsTest, SharedDictsCannotExplode) {
  PickleLimits limits;
  limits.max_entries = 1000;
  expect_error(doubling_pickle(40), "expands to more than 1000 dict entries", limits);
  expect_error(doubling_pickle(60), "expands to more than");
}

TEST_F(PickleLimitsTest, NameLengthAndRank) {
  PickleLimits limits;
  limits.max_name = 4;
  // {"abcde": {}}: the key alone is over the limit.
  expect_error("\x80\x02}X\x05\0\0\0abcde}s."s, "has a tensor name longer than 4 bytes", limits);

  // {"w": _rebuild_tensor_v2(storage, 0, (1,)*17, (1,)*17, False, ())}
  std::string ones;
  for (int i = 0; i < 17; ++i) ones += "K\x01"s;
  const std::string p = "\x80\x02}X\x01\0\0\0wctorch._utils\n_rebuild_tensor_v2\n("s +
                        "(X\x07\0\0\0storagectorch\nFloatStorage\nX\x01\0\0\0" "0X\x03\0\0\0cpuK\x01tQ"s +
                        "K\x00("s + ones + "t(" + ones + "t\x89)tRs.";
  expect_error(p, "rebuilds a tensor of 17 dimensions, more than the limit of 16");
}

}  // namespace
}  // namespace soragen::io
