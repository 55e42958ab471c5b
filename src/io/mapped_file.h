// A read-only view of a whole file through mmap, owned RAII-style.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace soragen::io {

class MappedFile {
 public:
  // Throws ModelError "weights '<path>': ..." when the path is missing, a
  // directory, not a regular file or unreadable.
  // The mapping is guarded (io/bus_guard.h): reading it after the file
  // shrank gives zeros and a later check_intact() error instead of SIGBUS.
  static std::shared_ptr<const MappedFile> open(const std::filesystem::path& path);

  // The same view over bytes already in memory (fuzzing, tests, archives
  // read from a stream); `label` stands for the path in error messages.
  static std::shared_ptr<const MappedFile> from_bytes(std::filesystem::path label, std::string bytes);

  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  // Private (copy-on-write) pages: tensors made over them may be written to
  // without ever touching the file. nullptr for an empty file.
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

  // True when the file still holds `end` bytes, so [0, end) can be read.
  bool covers(uint64_t end) const;
  // Throws ModelError when the file shrank below its mapped size or a read
  // already faulted on a vanished page.
  void check_intact() const;

 private:
  MappedFile(std::filesystem::path path, uint8_t* data, size_t size, int fd)
      : path_(std::move(path)), label_(path_.string()), data_(data), size_(size), fd_(fd) {}

  std::filesystem::path path_;
  std::string label_;  // what the SIGBUS guard names in its error
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  int fd_ = -1;          // kept open to stat the file; -1 for from_bytes
  int guard_slot_ = -1;
  std::string bytes_;    // from_bytes: owns the data
};

// Checks that `path` names a readable regular file; throws the same errors as
// MappedFile::open. Returns its size.
uint64_t check_readable_file(const std::filesystem::path& path);

// Reads up to `n` bytes from the start of the file (fewer when it is shorter).
std::string read_file_prefix(const std::filesystem::path& path, size_t n);

}  // namespace soragen::io
