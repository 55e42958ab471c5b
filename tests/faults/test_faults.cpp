// Faults injected into real runs of the soragen executable: a full disk, a
// file-size limit, SIGINT/SIGTERM in each long stage, weights that cannot be
// read or are cut short, and a batch with bad items. Each run must leave no
// partial output, keep an existing good file as it was, and exit with the
// code of include/soragen/error.h and a one-line message.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace soragen {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const char* signal_name(int sig) { return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "signal"; }

const std::string kGoodContent = "a finished video from an earlier run\n";

std::string soragen_path() { return (test::build_dir() / "soragen").string(); }

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Names in `dir` other than `keep`: temporaries (.x.part-*) or stray outputs.
std::vector<std::string> entries_except(const fs::path& dir, const std::vector<std::string>& keep) {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (std::find(keep.begin(), keep.end(), name) == keep.end()) out.push_back(name);
  }
  return out;
}

// A copy of the bundled default model that a test may damage.
fs::path copy_default_model(const fs::path& dir) {
  const fs::path model = dir / "model";
  fs::copy(fs::path(SORAGEN_SOURCE_MODELS_DIR) / "default", model, fs::copy_options::recursive);
  return model;
}

// soragen with `args`, stdout and stderr into `log`; returns its pid.
pid_t spawn_soragen(const std::vector<std::string>& args, const fs::path& log) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int null = ::open("/dev/null", O_RDONLY);
    if (fd < 0 || null < 0) ::_exit(127);
    ::dup2(null, 0);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> argv;
    const std::string program = soragen_path();
    argv.push_back(const_cast<char*>(program.c_str()));
    for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    ::execv(program.c_str(), argv.data());
    ::_exit(127);
  }
  return pid;
}

int wait_exit_code(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Polls `ready` every half millisecond until it holds or `pid` exits.
bool wait_until(pid_t pid, const std::function<bool()>& ready, double seconds = 60) {
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    if (ready()) return true;
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  return false;
}

struct Outcome {
  int exit_code = -1;
  std::string log;
};

class Faults : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(soragen_path())) << soragen_path();
    out_dir_ = dir_ / "out";
    fs::create_directories(out_dir_);
    target_ = out_dir_ / "video.mp4";
    std::ofstream(target_, std::ios::binary) << kGoodContent;
  }

  // The good file is still there, unchanged, and nothing else is.
  void expect_untouched(const std::string& context) {
    EXPECT_EQ(read_text(target_), kGoodContent) << context;
    EXPECT_EQ(entries_except(out_dir_, {"video.mp4"}), std::vector<std::string>{}) << context;
  }

  Outcome run(const std::string& command) {
    const test::CommandResult r = test::run_command(command + " </dev/null");
    return {r.exit_code, r.output};
  }

  // Starts a render, sends `sig` once `stage_reached` holds, and returns how
  // it ended. The render is long enough that the signal lands inside it.
  Outcome interrupt_when(const std::vector<std::string>& args, int sig, const std::function<bool()>& stage_reached,
                         bool* reached) {
    const fs::path log = log_path(sig);
    const pid_t pid = spawn_soragen(args, log);
    *reached = wait_until(pid, stage_reached);
    if (*reached) ::kill(pid, sig);
    Outcome outcome{wait_exit_code(pid), ""};
    outcome.log = read_text(log);
    return outcome;
  }

  // One log per signal: a log left by the previous run must not look like
  // this run's progress.
  fs::path log_path(int sig) const { return dir_ / ("log-" + std::to_string(sig) + ".txt"); }

  test::TempDir dir_;
  fs::path out_dir_;
  fs::path target_;
};

// SIGINT and SIGTERM while the transformer is denoising: exit 130, the
// message names the step, the old file stays.
TEST_F(Faults, SignalDuringDenoising) {
  for (const int sig : {SIGINT, SIGTERM}) {
    const fs::path log = log_path(sig);
    bool reached = false;
    const Outcome outcome = interrupt_when(
        {"--prompt", "a red ball", "--steps", "1000", "-o", target_.string()}, sig,
        [&] { return read_text(log).find("denoising step 2/1000") != std::string::npos; }, &reached);
    ASSERT_TRUE(reached) << outcome.log;
    EXPECT_EQ(outcome.exit_code, 130) << outcome.log;
    EXPECT_NE(outcome.log.find("error: interrupted after denoising step"), std::string::npos) << outcome.log;
    expect_untouched(std::string(signal_name(sig)) + " while denoising");
  }
}

// The same after denoising, while the VAE decodes and the muxer starts: the
// muxer checks the stop flag before every frame, so it discards its
// temporary and names the output. Sent once the last step is logged, the
// signal reliably lands in this stage (the VAE takes far longer than the
// polling; encoding alone takes milliseconds, too short to aim at without a
// test hook; tests/video cancels in the middle of the frames in-process).
TEST_F(Faults, SignalDuringDecodingAndMuxing) {
  for (const int sig : {SIGINT, SIGTERM}) {
    const fs::path log = log_path(sig);
    bool reached = false;
    const Outcome outcome = interrupt_when(
        {"--prompt", "a red ball", "--steps", "2", "-o", target_.string()}, sig,
        [&] { return read_text(log).find("denoising step 2/2") != std::string::npos; }, &reached);
    ASSERT_TRUE(reached) << outcome.log;
    EXPECT_EQ(outcome.exit_code, 130) << outcome.log;
    EXPECT_NE(outcome.log.find("error: output '" + target_.string() + "': interrupted, nothing written"),
              std::string::npos)
        << outcome.log;
    expect_untouched(std::string(signal_name(sig)) + " while decoding and muxing");
  }
}

// ulimit -f: writes past the limit fail with EFBIG (soragen ignores SIGXFSZ).
TEST_F(Faults, FileSizeLimitMidWrite) {
  // 128x128 so the video (~16 KB) is well over the 8 KiB limit whatever the seed.
  const Outcome outcome = run("ulimit -f 8; '" + soragen_path() +
                              "' --prompt 'a red ball' --steps 1 --width 128 --height 128 -o '" + target_.string() + "'");
  EXPECT_EQ(outcome.exit_code, 4) << outcome.log;
  EXPECT_NE(outcome.log.find("error: output '" + target_.string() + "': "), std::string::npos) << outcome.log;
  EXPECT_NE(outcome.log.find("File too large"), std::string::npos) << outcome.log;
  expect_untouched("file-size limit");
}

// A real full disk: a 16 KiB tmpfs with 4 KiB left free (the 128x128 video
// needs ~16 KB) in a private mount namespace (root only; the mount vanishes
// with the namespace).
TEST_F(Faults, DiskFullMidWrite) {
  if (::geteuid() != 0 || test::run_command("unshare -m true").exit_code != 0) {
    GTEST_SKIP() << "needs root and mount namespaces for a private tmpfs";
  }
  const fs::path mount_point = dir_ / "small";
  fs::create_directories(mount_point);
  const std::string inner = (mount_point / "video.mp4").string();
  const Outcome outcome = run(
      "unshare -m sh -c \"mount -t tmpfs -o size=16k tmpfs '" + mount_point.string() + "' && printf '" +
      "a finished video from an earlier run\\n' > '" + inner + "' && head -c 8192 /dev/zero > '" +
      (mount_point / "filler").string() + "' && '" + soragen_path() +
      "' --prompt 'a red ball' --steps 1 --seed 1 --width 128 --height 128 -o '" + inner + "'; code=\\$?; cat '" + inner +
      "'; echo left: \\$(ls -A '" + mount_point.string() + "' | grep -c part-); exit \\$code\"");
  EXPECT_EQ(outcome.exit_code, 4) << outcome.log;
  EXPECT_NE(outcome.log.find("error: output '" + inner + "': "), std::string::npos) << outcome.log;
  EXPECT_NE(outcome.log.find("No space left on device"), std::string::npos) << outcome.log;
  EXPECT_NE(outcome.log.find(kGoodContent), std::string::npos) << "the old file was replaced\n" << outcome.log;
  EXPECT_NE(outcome.log.find("left: 0"), std::string::npos) << "a temporary was left\n" << outcome.log;
}

// Weights that cannot be read even by root: a FIFO (opening it would wait
// for a writer forever) and a directory in place of the file.
TEST_F(Faults, UnreadableWeights) {
  const fs::path model = copy_default_model(dir_.path());
  const fs::path dit = model / "dit.safetensors";
  for (const std::string kind : {"fifo", "directory"}) {
    fs::remove_all(dit);
    if (kind == "fifo") ASSERT_EQ(::mkfifo(dit.c_str(), 0600), 0);
    else fs::create_directory(dit);
    const Outcome outcome = run("timeout 60 '" + soragen_path() + "' --model '" + model.string() +
                                "' --prompt 'a red ball' --steps 1 -o '" + target_.string() + "'");
    EXPECT_EQ(outcome.exit_code, 3) << kind << "\n" << outcome.log;
    const std::string message = kind == "fifo" ? "': is not a regular file" : "': is a directory, expected a weights file";
    EXPECT_NE(outcome.log.find("error: weights '" + dit.string() + message), std::string::npos) << outcome.log;
    expect_untouched("unreadable weights (" + kind + ")");
  }
}

// A weights file cut short on disk: refused before any rendering.
TEST_F(Faults, TruncatedWeights) {
  const fs::path model = copy_default_model(dir_.path());
  const fs::path dit = model / "dit.safetensors";
  fs::resize_file(dit, fs::file_size(dit) - 1000);
  const Outcome outcome = run("'" + soragen_path() + "' --model '" + model.string() +
                              "' --prompt 'a red ball' --steps 1 -o '" + target_.string() + "'");
  EXPECT_EQ(outcome.exit_code, 3) << outcome.log;
  EXPECT_NE(outcome.log.find("error: weights '" + dit.string() + "': tensor '"), std::string::npos) << outcome.log;
  EXPECT_NE(outcome.log.find("outside the data area"), std::string::npos) << outcome.log;
  expect_untouched("truncated weights");
}

// Truncated while soragen has it mapped, after loading: the weights were
// copied out at load time, so the render finishes and is correct. (Truncation
// during the load itself is tests/io/test_limits.cpp, MappedWeights.)
TEST_F(Faults, WeightsTruncatedWhileMappedDuringTheRender) {
  const fs::path model = copy_default_model(dir_.path());
  const fs::path log = dir_ / "log.txt";
  fs::remove(target_);
  const pid_t pid = spawn_soragen({"--model", model.string(), "--prompt", "a red ball", "--steps", "30", "--frames",
                                   "5", "-o", target_.string()},
                                  log);
  ASSERT_TRUE(wait_until(pid, [&] { return read_text(log).find("denoising step 1/") != std::string::npos; }))
      << read_text(log);
  for (const char* name : {"dit.safetensors", "vae.safetensors", "text_encoder.safetensors"}) {
    fs::resize_file(model / name, 0);
  }
  EXPECT_EQ(wait_exit_code(pid), 0) << read_text(log);
  EXPECT_GT(fs::file_size(target_), 1000u);
  EXPECT_EQ(entries_except(out_dir_, {"video.mp4"}), std::vector<std::string>{});
}

// 20 items, 3 bad ones: the 17 good ones are written, the 3 reported with
// their line numbers, exit 5; a rerun with --skip-existing renders nothing.
TEST_F(Faults, BatchOfTwentyWithThreeBadItems) {
  fs::remove(target_);
  const fs::path prompts = dir_ / "prompts.jsonl";
  std::ofstream file(prompts);
  for (int line = 1; line <= 20; ++line) {
    if (line == 4) file << "{\"prompt\": \"broken\"\n";                                    // bad JSON
    else if (line == 9) file << "{\"prompt\": \"huge\", \"width\": 100000}\n";             // impossible size
    else if (line == 15) file << "{\"prompt\": \"x\", \"output\": \"/no/such/dir/x.mp4\"}\n";  // unwritable
    else file << "{\"prompt\": \"item " << line << "\", \"seed\": " << line << "}\n";
  }
  file.close();
  const std::string pattern_command = "'" + soragen_path() + "' --prompt-file '" + prompts.string() +
                                      "' --frames 1 --steps 1 -o '" + (out_dir_ / "line-{line}.mp4").string() + "'";
  const Outcome first = run(pattern_command);
  EXPECT_EQ(first.exit_code, 5) << first.log;
  EXPECT_NE(first.log.find("batch done: 17 ok, 3 failed, 0 skipped"), std::string::npos) << first.log;
  EXPECT_NE(first.log.find("line 4: not valid JSON"), std::string::npos) << first.log;
  EXPECT_NE(first.log.find("line 9: --width 100000"), std::string::npos) << first.log;
  EXPECT_NE(first.log.find("line 15: -o '/no/such/dir/x.mp4'"), std::string::npos) << first.log;
  int written = 0;
  for (int line = 1; line <= 20; ++line) {
    const bool bad = line == 4 || line == 9 || line == 15;
    EXPECT_EQ(fs::exists(out_dir_ / ("line-" + std::to_string(line) + ".mp4")), !bad) << line;
    written += !bad;
  }
  EXPECT_EQ(written, 17);
  EXPECT_EQ(entries_except(out_dir_, {}).size(), 17u);

  const auto start = Clock::now();
  const Outcome again = run(pattern_command + " --skip-existing");
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_EQ(again.exit_code, 5) << again.log;
  EXPECT_NE(again.log.find("batch done: 0 ok, 3 failed, 17 skipped"), std::string::npos) << again.log;
  EXPECT_EQ(again.log.find("denoising"), std::string::npos) << again.log;
  EXPECT_NE(again.log.find("skipping '" + (out_dir_ / "line-1.mp4").string() + "': it exists"), std::string::npos)
      << again.log;
  // Only the model load remains: well under the first run's 17 renders.
  EXPECT_LT(seconds, 20.0);
}

}  // namespace
}  // namespace soragen
