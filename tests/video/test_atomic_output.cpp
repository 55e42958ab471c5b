// All-or-nothing output: every way a write can end early must leave the
// target as it was and no temporary behind.
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <string>

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "soragen/error.h"
#include "video/writer.h"
#include "video_test_util.h"

namespace soragen::video {
namespace {

namespace fs = std::filesystem;
using test::ScratchDir;

const std::string kGood = "a good video from an earlier run";

void put_good_file(const fs::path& file) {
  std::FILE* f = std::fopen(file.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fwrite(kGood.data(), 1, kGood.size(), f);
  std::fclose(f);
}

TEST(AtomicOutput, TargetAppearsOnlyOnCommitUnderAHiddenTemporaryName) {
  ScratchDir dir;
  const VideoFrames clip = test::synthetic_clip(32, 32, 2);
  auto sink = open_mp4(dir / "v.mp4", 32, 32, {});
  sink->write(clip.frame(0));
  const std::vector<std::string> during = dir.entries();
  ASSERT_EQ(during.size(), 1u);
  EXPECT_TRUE(test::starts_with(during[0], ".v.mp4.part-")) << during[0];
  sink->write(clip.frame(1));
  sink->commit();
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"v.mp4"});
  // The temporary was made 0666 before the umask, not mkstemp's 0600.
  struct stat info {};
  ASSERT_EQ(::stat((dir / "v.mp4").c_str(), &info), 0);
  const mode_t mask = ::umask(0);
  ::umask(mask);
  EXPECT_EQ(info.st_mode & 0777, 0666 & ~mask);
}

TEST(AtomicOutput, DestroyingWithoutCommitLeavesNothing) {
  ScratchDir dir;
  const VideoFrames clip = test::synthetic_clip(32, 32, 3);
  {
    auto sink = open_mp4(dir / "v.mp4", 32, 32, {});
    for (int i = 0; i < clip.count; ++i) sink->write(clip.frame(i));
  }
  EXPECT_TRUE(dir.entries().empty());
}

TEST(AtomicOutput, CancelBetweenFramesThrowsInterruptedAndKeepsTheOldFile) {
  ScratchDir dir;
  put_good_file(dir / "v.mp4");
  const VideoFrames clip = test::synthetic_clip(32, 32, 10);
  std::atomic<bool> cancel{false};
  WriteOptions options;
  options.cancel = &cancel;
  auto sink = open_mp4(dir / "v.mp4", 32, 32, options);
  for (int i = 0; i < 5; ++i) sink->write(clip.frame(i));
  cancel = true;
  try {
    sink->write(clip.frame(5));
    FAIL() << "no InterruptedError";
  } catch (const InterruptedError& e) {
    EXPECT_TRUE(test::contains(e.what(), "interrupted")) << e.what();
    EXPECT_TRUE(test::contains(e.what(), "v.mp4")) << e.what();
  }
  // The temporary is gone already, not just when the sink is destroyed.
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"v.mp4"});
  EXPECT_EQ(test::read_bytes(dir / "v.mp4"), kGood);
  EXPECT_THROW(sink->commit(), OutputError);
}

TEST(AtomicOutput, CancelDuringTheFlushThrowsInterrupted) {
  ScratchDir dir;
  const VideoFrames clip = test::synthetic_clip(32, 32, 6);
  std::atomic<bool> cancel{false};
  WriteOptions options;
  options.cancel = &cancel;
  auto sink = open_mp4(dir / "v.mp4", 32, 32, options);
  for (int i = 0; i < clip.count; ++i) sink->write(clip.frame(i));
  cancel = true;
  EXPECT_THROW(sink->commit(), InterruptedError);
  EXPECT_TRUE(dir.entries().empty());
}

TEST(AtomicOutput, SuccessfulWriteReplacesAnExistingFile) {
  ScratchDir dir;
  put_good_file(dir / "v.mp4");
  write_video(dir / "v.mp4", test::synthetic_clip(32, 32, 2), OutputFormat::mp4, {});
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"v.mp4"});
  EXPECT_EQ(test::decode_file(dir / "v.mp4").rgb.size(), 2u);
}

TEST(AtomicOutput, CommitWithoutFramesFails) {
  ScratchDir dir;
  auto sink = open_mp4(dir / "v.mp4", 32, 32, {});
  try {
    sink->commit();
    FAIL() << "no OutputError";
  } catch (const OutputError& e) {
    EXPECT_TRUE(test::contains(e.what(), "no frames")) << e.what();
  }
  EXPECT_TRUE(dir.entries().empty());
}

TEST(AtomicOutput, MissingDirectoryOrDirectoryTargetIsAClearError) {
  ScratchDir dir;
  try {
    open_mp4(dir / "missing" / "v.mp4", 32, 32, {});
    FAIL() << "no OutputError";
  } catch (const OutputError& e) {
    EXPECT_EQ(std::string(e.what()), "output '" + (dir / "missing" / "v.mp4").string() + "': directory '" +
                                         (dir / "missing").string() + "' does not exist");
  }
  fs::create_directory(dir / "taken.mp4");
  try {
    open_mp4(dir / "taken.mp4", 32, 32, {});
    FAIL() << "no OutputError";
  } catch (const OutputError& e) {
    EXPECT_TRUE(test::contains(e.what(), "is a directory")) << e.what();
  }
}

// As root, permission bits do not stop writes, so the child drops to nobody.
void become_unprivileged() {
  if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) throw std::runtime_error("setuid failed");
}

TEST(AtomicOutput, UnwritableDirectoryFailsUpFrontAndKeepsTheOldFile) {
  ScratchDir dir;
  const fs::path locked = dir / "locked";
  fs::create_directory(locked);
  put_good_file(locked / "v.mp4");
  fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                              fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
  const std::string result = test::run_in_child([&] {
    become_unprivileged();
    open_mp4(locked / "v.mp4", 32, 32, {});
  });
  EXPECT_EQ(result, "OutputError: output '" + (locked / "v.mp4").string() + "': cannot write to directory '" +
                        locked.string() + "': Permission denied");
  EXPECT_EQ(dir.entries(locked), std::vector<std::string>{"v.mp4"});
  EXPECT_EQ(test::read_bytes(locked / "v.mp4"), kGood);
}

// A full disk, simulated with a file size limit in a child process: writes
// past the limit fail with EFBIG instead of killing it (SIGXFSZ ignored).
std::string write_with_size_limit(const fs::path& target, const VideoFrames& clip, OutputFormat format,
                                  rlim_t limit) {
  return test::run_in_child([&] {
    std::signal(SIGXFSZ, SIG_IGN);
    const rlimit cap{limit, limit};
    if (::setrlimit(RLIMIT_FSIZE, &cap) != 0) throw std::runtime_error("setrlimit failed");
    write_video(target, clip, format, {});
  });
}

TEST(AtomicOutput, FullDiskWhileEncodingIsAnOutputErrorAndLeavesNothing) {
  ScratchDir dir;
  put_good_file(dir / "v.mp4");
  const VideoFrames noise = test::noise_clip(256, 256, 8, 1);  // ~1.5 MB of H.264
  const std::string result = write_with_size_limit(dir / "v.mp4", noise, OutputFormat::mp4, 64 * 1024);
  EXPECT_EQ(result, "OutputError: output '" + (dir / "v.mp4").string() + "': cannot write: File too large");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"v.mp4"});
  EXPECT_EQ(test::read_bytes(dir / "v.mp4"), kGood);
}

TEST(AtomicOutput, FullDiskInTheTrailerIsAnOutputErrorAndLeavesNothing) {
  ScratchDir dir;
  const VideoFrames clip = test::noise_clip(64, 64, 4, 2);
  write_video(dir / "reference.mp4", clip, OutputFormat::mp4, {});
  const auto size = static_cast<rlim_t>(fs::file_size(dir / "reference.mp4"));
  fs::remove(dir / "reference.mp4");
  // x264 is deterministic, so the same clip needs exactly `size` bytes; one
  // byte less fails only at the very end, in the trailer's faststart rewrite.
  const std::string result = write_with_size_limit(dir / "v.mp4", clip, OutputFormat::mp4, size - 1);
  EXPECT_TRUE(test::starts_with(result, "OutputError: output '" + (dir / "v.mp4").string() + "': cannot write"))
      << result;
  EXPECT_TRUE(dir.entries().empty());
  // With exactly enough room it succeeds, so the failure above was the limit.
  EXPECT_EQ(write_with_size_limit(dir / "v.mp4", clip, OutputFormat::mp4, size), "ok");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"v.mp4"});
}

TEST(AtomicOutput, FullDiskWhileWritingPngsIsAnOutputErrorAndLeavesNothing) {
  ScratchDir dir;
  const VideoFrames noise = test::noise_clip(128, 128, 6, 3);  // ~50 KB a frame
  const std::string result = write_with_size_limit(dir / "frames", noise, OutputFormat::png, 20 * 1024);
  EXPECT_EQ(result, "OutputError: output '" + (dir / "frames").string() +
                        "': cannot write 'frame_00000.png': File too large");
  EXPECT_TRUE(dir.entries().empty());
}

}  // namespace
}  // namespace soragen::video
