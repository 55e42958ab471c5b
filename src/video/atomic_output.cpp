#include "video/atomic_output.h"

#include <cerrno>
#include <random>
#include <string>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "video/av_error.h"

namespace soragen::video {
namespace fs = std::filesystem;

namespace {

std::string errno_text(int error) { return std::generic_category().message(error); }

std::string quoted(const fs::path& path) { return "'" + path.string() + "'"; }

std::string random_suffix(std::mt19937& rng) {
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::uniform_int_distribution<int> pick(0, sizeof alphabet - 2);
  std::string suffix(6, 'x');
  for (char& c : suffix) c = alphabet[pick(rng)];
  return suffix;
}

// fsync needs a descriptor, and the FFmpeg writer has closed its own by now.
void sync_file(const fs::path& file, const fs::path& target) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw output_error(target, "cannot reopen " + quoted(file) + ": " + errno_text(errno));
  int failed = ::fsync(fd) != 0 ? errno : 0;
  ::close(fd);
  if (failed) throw output_error(target, "cannot write: " + errno_text(failed));
}

}  // namespace

TemporaryOutput::TemporaryOutput(const fs::path& target, Kind kind) : target_(target), kind_(kind) {
  // "out/frames/" names the directory "out/frames".
  if (!target_.has_filename()) target_ = target_.parent_path();
  const fs::path name = target_.filename();
  if (name.empty() || name == "." || name == "..") throw output_error(target, "not a usable output name");
  fs::path directory = target_.parent_path();
  if (directory.empty()) directory = ".";

  std::error_code ec;
  const fs::file_status status = fs::status(target_, ec);
  if (kind_ == Kind::file && fs::is_directory(status)) {
    throw output_error(target_, "is a directory; a video file was expected");
  }
  if (kind_ == Kind::directory && fs::exists(status)) {
    if (!fs::is_directory(status)) throw output_error(target_, "exists and is not a directory");
    if (!fs::is_empty(target_, ec)) {
      throw output_error(target_, "directory is not empty; refusing to mix new frames with existing files");
    }
  }
  const fs::file_status parent = fs::status(directory, ec);
  if (!fs::exists(parent)) throw output_error(target_, "directory " + quoted(directory) + " does not exist");
  if (!fs::is_directory(parent)) throw output_error(target_, quoted(directory) + " is not a directory");

  std::mt19937 rng(std::random_device{}());
  for (int attempt = 0; attempt < 100; ++attempt) {
    fs::path candidate = directory / ("." + name.string() + ".part-" + random_suffix(rng));
    int error = 0;
    if (kind_ == Kind::file) {
      // 0666 so that, after the umask, the video gets the usual permissions;
      // mkstemp would leave it readable by its owner only.
      int fd = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd >= 0) ::close(fd);
      else error = errno;
    } else if (::mkdir(candidate.c_str(), 0777) != 0) {
      error = errno;
    }
    if (error == EEXIST) continue;
    if (error) throw output_error(target_, "cannot write to directory " + quoted(directory) + ": " + errno_text(error));
    temporary_ = std::move(candidate);
    pending_ = true;
    return;
  }
  throw output_error(target_, "cannot find a free temporary name in " + quoted(directory));
}

TemporaryOutput::~TemporaryOutput() { discard(); }

void TemporaryOutput::commit() {
  if (!pending_) throw output_error(target_, "nothing to commit");
  if (kind_ == Kind::file) sync_file(temporary_, target_);
  if (::rename(temporary_.c_str(), target_.c_str()) != 0) {
    const int error = errno;
    if (kind_ == Kind::directory && (error == ENOTEMPTY || error == EEXIST)) {
      throw output_error(target_, "directory is not empty; refusing to mix new frames with existing files");
    }
    throw output_error(target_, "cannot rename " + quoted(temporary_) + " into place: " + errno_text(error));
  }
  pending_ = false;
}

void TemporaryOutput::discard() noexcept {
  if (!pending_) return;
  pending_ = false;
  std::error_code ignored;
  fs::remove_all(temporary_, ignored);
}

void write_file_fully(const fs::path& file, const void* data, std::size_t size, const fs::path& target) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) throw output_error(target, "cannot create " + quoted(file) + ": " + errno_text(errno));
  const auto* bytes = static_cast<const unsigned char*>(data);
  int error = 0;
  while (size > 0) {
    const ssize_t written = ::write(fd, bytes, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      error = errno;
      break;
    }
    bytes += written;
    size -= static_cast<std::size_t>(written);
  }
  if (!error && ::fsync(fd) != 0) error = errno;
  if (::close(fd) != 0 && !error) error = errno;
  if (error) throw output_error(target, "cannot write " + quoted(file.filename()) + ": " + errno_text(error));
}

}  // namespace soragen::video
