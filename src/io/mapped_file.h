// A read-only view of a whole file through mmap, owned RAII-style.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>

namespace soragen::io {

class MappedFile {
 public:
  // Throws ModelError "weights '<path>': ..." when the path is missing, a
  // directory, not a regular file or unreadable.
  static std::shared_ptr<const MappedFile> open(const std::filesystem::path& path);

  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  // Private (copy-on-write) pages: tensors made over them may be written to
  // without ever touching the file. nullptr for an empty file.
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  MappedFile(std::filesystem::path path, uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}

  std::filesystem::path path_;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Checks that `path` names a readable regular file; throws the same errors as
// MappedFile::open. Returns its size.
uint64_t check_readable_file(const std::filesystem::path& path);

// Reads up to `n` bytes from the start of the file (fewer when it is shorter).
std::string read_file_prefix(const std::filesystem::path& path, size_t n);

}  // namespace soragen::io
