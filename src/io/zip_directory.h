// The central directory of a zip archive, read from its bytes only to learn
// each record's claimed sizes before libtorch's reader allocates them: the
// reader trusts the uncompressed size it finds there, so a hostile .pth could
// ask for terabytes (or be a zip bomb) before anything is checked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

namespace soragen::io {

struct ZipRecord {
  uint16_t method = 0;  // 0 stored, 8 deflate
  uint64_t compressed = 0;
  uint64_t uncompressed = 0;
};

// Name -> sizes for every entry. Throws ModelError(`error_prefix` + problem)
// when the end-of-directory record or an entry runs outside the data. Records
// beyond `max_records` are refused.
std::map<std::string, ZipRecord> read_zip_directory(const uint8_t* data, size_t size,
                                                    const std::string& error_prefix, size_t max_records);

}  // namespace soragen::io
