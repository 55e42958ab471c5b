// All-or-nothing outputs. A writer works on a hidden sibling of its target
// (same directory, so the final rename(2) is atomic on one filesystem) and
// only commit() makes it visible; an error, a cancellation or a crash leaves
// the target as it was, and anything short of a crash leaves no temporary.
#pragma once

#include <cstddef>
#include <filesystem>

namespace soragen::video {

class TemporaryOutput {
 public:
  enum class Kind { file, directory };

  // Creates `.<name>.part-XXXXXX` beside `target` right away, which is also
  // the up-front check that the target's directory exists and is writable.
  // A directory target must not exist or be empty: frames are never mixed
  // into a folder that already holds files. Throws OutputError.
  TemporaryOutput(const std::filesystem::path& target, Kind kind);
  ~TemporaryOutput();  // discard() unless committed
  TemporaryOutput(const TemporaryOutput&) = delete;
  TemporaryOutput& operator=(const TemporaryOutput&) = delete;

  // The target as given, without a trailing separator; used in messages.
  const std::filesystem::path& target() const { return target_; }
  const std::filesystem::path& path() const { return temporary_; }

  // Flushes a file to disk (some filesystems report ENOSPC only then) and
  // renames the temporary onto the target, replacing an existing file or an
  // empty directory. On error the temporary stays for discard().
  void commit();
  void discard() noexcept;

 private:
  std::filesystem::path target_;
  std::filesystem::path temporary_;
  Kind kind_;
  bool pending_ = false;
};

// Writes `size` bytes as the whole content of `file` and syncs it, reporting
// any failure (a full disk included) against `target`. Throws OutputError.
void write_file_fully(const std::filesystem::path& file, const void* data, std::size_t size,
                      const std::filesystem::path& target);

}  // namespace soragen::video
