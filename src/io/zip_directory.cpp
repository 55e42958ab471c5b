#include "io/zip_directory.h"

#include "soragen/error.h"

namespace soragen::io {
namespace {

// Layout from the ZIP application note (APPNOTE.TXT 4.3.12-4.3.16, 4.5.3).
constexpr uint32_t kEndSignature = 0x06054b50;
constexpr uint32_t kZip64EndSignature = 0x06064b50;
constexpr uint32_t kZip64LocatorSignature = 0x07064b50;
constexpr uint32_t kEntrySignature = 0x02014b50;
constexpr size_t kEndSize = 22;
constexpr size_t kLocatorSize = 20;
constexpr size_t kZip64EndSize = 56;
constexpr size_t kEntrySize = 46;

class Reader {
 public:
  Reader(const uint8_t* data, size_t size, const std::string& prefix) : data_(data), size_(size), prefix_(prefix) {}

  [[noreturn]] void fail(const std::string& problem) const {
    throw ModelError(prefix_ + "not a readable PyTorch zip archive: " + problem);
  }
  void need(uint64_t pos, uint64_t n) const {
    if (pos > size_ || n > size_ - pos) fail("its directory points outside the file (truncated?)");
  }
  // Little-endian integer of `n` <= 8 bytes at `pos`, bounds-checked.
  uint64_t le(uint64_t pos, size_t n) const {
    need(pos, n);
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = (v << 8) | data_[pos + i];
    return v;
  }
  size_t size() const { return size_; }
  const uint8_t* data() const { return data_; }

 private:
  const uint8_t* data_;
  size_t size_;
  const std::string& prefix_;
};

// The end record sits in the last 22 + 65535 (comment) bytes.
uint64_t find_end(const Reader& r) {
  if (r.size() < kEndSize) r.fail("too short for a zip directory");
  const uint64_t lowest = r.size() > kEndSize + 0xffff ? r.size() - kEndSize - 0xffff : 0;
  for (uint64_t pos = r.size() - kEndSize + 1; pos-- > lowest;) {
    if (r.le(pos, 4) == kEndSignature) return pos;
  }
  r.fail("no end-of-directory record (truncated?)");
}

// Replaces 32-bit fields saturated at 0xffffffff with their zip64 extra values.
void apply_zip64_extra(const Reader& r, uint64_t extra, uint64_t extra_len, ZipRecord* record) {
  const uint64_t end = extra + extra_len;
  while (extra + 4 <= end) {
    const uint64_t id = r.le(extra, 2);
    const uint64_t len = r.le(extra + 2, 2);
    if (extra + 4 + len > end) r.fail("an entry's extra field runs past its end");
    if (id == 0x0001) {
      uint64_t field = extra + 4;
      const uint64_t field_end = field + len;
      if (record->uncompressed == 0xffffffff && field + 8 <= field_end) {
        record->uncompressed = r.le(field, 8);
        field += 8;
      }
      if (record->compressed == 0xffffffff && field + 8 <= field_end) record->compressed = r.le(field, 8);
      return;
    }
    extra += 4 + len;
  }
}

}  // namespace

std::map<std::string, ZipRecord> read_zip_directory(const uint8_t* data, size_t size,
                                                    const std::string& error_prefix, size_t max_records) {
  const Reader r(data, size, error_prefix);
  const uint64_t end = find_end(r);
  uint64_t count = r.le(end + 10, 2);
  uint64_t offset = r.le(end + 16, 4);
  if ((count == 0xffff || offset == 0xffffffff) && end >= kLocatorSize &&
      r.le(end - kLocatorSize, 4) == kZip64LocatorSignature) {
    const uint64_t end64 = r.le(end - kLocatorSize + 8, 8);
    if (r.le(end64, 4) != kZip64EndSignature) r.fail("its zip64 end record is missing");
    r.need(end64, kZip64EndSize);
    count = r.le(end64 + 32, 8);
    offset = r.le(end64 + 48, 8);
  }
  if (count > max_records) {
    r.fail("it has " + std::to_string(count) + " records, more than the limit of " + std::to_string(max_records));
  }
  std::map<std::string, ZipRecord> records;
  uint64_t pos = offset;
  for (uint64_t i = 0; i < count; ++i) {
    if (r.le(pos, 4) != kEntrySignature) r.fail("its directory entry " + std::to_string(i) + " is damaged");
    ZipRecord record;
    record.method = static_cast<uint16_t>(r.le(pos + 10, 2));
    record.compressed = r.le(pos + 20, 4);
    record.uncompressed = r.le(pos + 24, 4);
    const uint64_t name_len = r.le(pos + 28, 2);
    const uint64_t extra_len = r.le(pos + 30, 2);
    const uint64_t comment_len = r.le(pos + 32, 2);
    r.need(pos + kEntrySize, name_len);
    const std::string name(reinterpret_cast<const char*>(data + pos + kEntrySize), name_len);
    apply_zip64_extra(r, pos + kEntrySize + name_len, extra_len, &record);
    records[name] = record;
    pos += kEntrySize + name_len + extra_len + comment_len;
  }
  return records;
}

}  // namespace soragen::io
