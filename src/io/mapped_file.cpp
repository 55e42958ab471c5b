#include "io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

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
int open_regular(const std::filesystem::path& path, uint64_t* size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
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
  if (size == 0) return std::shared_ptr<const MappedFile>(new MappedFile(path, nullptr, 0));
  // PROT_WRITE with MAP_PRIVATE: writes land in private copies of the pages,
  // so a tensor over the mapping is an ordinary writable tensor.
  void* data = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd.fd, 0);
  if (data == MAP_FAILED) fail(path, std::string("cannot map: ") + std::strerror(errno));
  // The mapping outlives the descriptor, which FdCloser closes now.
  return std::shared_ptr<const MappedFile>(
      new MappedFile(path, static_cast<uint8_t*>(data), static_cast<size_t>(size)));
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(data_, size_);
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
