#include "io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "io/bus_guard.h"
#include "soragen/error.h"

namespace soragen::io {
namespace {

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& problem) {
  throw ModelError("weights '" + path.string() + "': " + problem);
}

struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

// Opens and stats in one place so every entry point reports the same errors.
// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer
// forever; it is refused as "not a regular file" below. Regular files ignore
// the flag.
int open_regular(const std::filesystem::path& path, uint64_t* size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) fail(path, "no such file");
    fail(path, std::string("cannot open: ") + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    fail(path, std::string("cannot stat: ") + std::strerror(err));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    fail(path, "is a directory, expected a weights file");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, "is not a regular file");
  }
  *size = static_cast<uint64_t>(st.st_size);
  return fd;
}

}  // namespace

std::shared_ptr<const MappedFile> MappedFile::open(const std::filesystem::path& path) {
  uint64_t size = 0;
  FdCloser fd{open_regular(path, &size)};
  // The descriptor stays open for check_intact(); the mapping would outlive
  // it anyway.
  std::shared_ptr<MappedFile> file(new MappedFile(path, nullptr, static_cast<size_t>(size), fd.fd));
  fd.fd = -1;
  if (size == 0) return file;
  // PROT_WRITE with MAP_PRIVATE: writes land in private copies of the pages,
  // so a tensor over the mapping is an ordinary writable tensor.
  void* data = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, file->fd_, 0);
  if (data == MAP_FAILED) fail(path, std::string("cannot map: ") + std::strerror(errno));
  file->data_ = static_cast<uint8_t*>(data);
  file->guard_slot_ = guard_mapping(data, file->size_, &file->label_);
  return file;
}

std::shared_ptr<const MappedFile> MappedFile::from_bytes(std::filesystem::path label, std::string bytes) {
  std::shared_ptr<MappedFile> file(new MappedFile(std::move(label), nullptr, bytes.size(), -1));
  file->bytes_ = std::move(bytes);
  if (!file->bytes_.empty()) file->data_ = reinterpret_cast<uint8_t*>(file->bytes_.data());
  return file;
}

MappedFile::~MappedFile() {
  // Unguard first: once unmapped, the range may be reused by anything.
  unguard_mapping(guard_slot_);
  if (data_ && fd_ >= 0) ::munmap(data_, size_);
  if (fd_ >= 0) ::close(fd_);
}

bool MappedFile::covers(uint64_t end) const {
  if (fd_ < 0) return end <= size_;
  struct stat st {};
  // When fstat fails, let the read go ahead: the SIGBUS guard still catches it.
  if (::fstat(fd_, &st) != 0) return true;
  return end <= static_cast<uint64_t>(st.st_size);
}

void MappedFile::check_intact() const {
  if (fd_ < 0) return;
  struct stat st {};
  const bool shrank = ::fstat(fd_, &st) == 0 && static_cast<uint64_t>(st.st_size) < size_;
  if (shrank || mapping_faulted(guard_slot_)) {
    fail(path_, "the file shrank from " + std::to_string(size_) + " to " + std::to_string(st.st_size) +
                    " bytes while in use (truncated or overwritten during loading?)");
  }
}

uint64_t check_readable_file(const std::filesystem::path& path) {
  uint64_t size = 0;
  FdCloser fd{open_regular(path, &size)};
  return size;
}

std::string read_file_prefix(const std::filesystem::path& path, size_t n) {
  uint64_t size = 0;
  FdCloser fd{open_regular(path, &size)};
  std::string out(n, '\0');
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::read(fd.fd, out.data() + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail(path, std::string("cannot read: ") + std::strerror(errno));
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  out.resize(got);
  return out;
}

}  // namespace soragen::io
