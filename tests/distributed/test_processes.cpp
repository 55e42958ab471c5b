// Several soragen processes started the way torchrun starts them (RANK,
// WORLD_SIZE, MASTER_ADDR, MASTER_PORT), on the embedded default: a batch
// shared among them, --skip-existing, and a rank that is killed, interrupted,
// never comes, or was started with another batch; one render split over two
// processes (CFG parallelism), which writes what one process writes.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "free_port.h"
#include "test_util.h"
#include "video_test_util.h"

namespace soragen {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct Rank {
  pid_t pid = -1;
  fs::path log;
};

int wait_exit_code(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool wait_until(const std::function<bool()>& ready, double seconds) {
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return ready();
}

class ShardedBatch : public ::testing::Test {
 public:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(soragen_)) << soragen_;
    port_ = test::free_loopback_port();
    ASSERT_GT(port_, 0);
    out_ = dir_ / "out";
    fs::create_directories(out_);
  }

  fs::path prompt_file(int items, const std::string& name = "prompts.txt") {
    const fs::path path = dir_ / name;
    std::ofstream file(path);
    for (int i = 1; i <= items; ++i) file << "a small red circle moving to the right on a blue background " << i << "\n";
    return path;
  }

  // soragen as rank `rank` of `world`, its output in its own log.
  Rank start(int rank, int world, const std::vector<std::string>& args) {
    Rank started;
    started.log = dir_ / ("rank" + std::to_string(rank) + "-" + std::to_string(starts_++) + ".log");
    const std::string rank_text = std::to_string(rank), world_text = std::to_string(world),
                      port_text = std::to_string(port_);
    started.pid = ::fork();
    if (started.pid == 0) {
      const int fd = ::open(started.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int null = ::open("/dev/null", O_RDONLY);
      if (fd < 0 || null < 0) ::_exit(127);
      ::dup2(null, 0);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::setenv("RANK", rank_text.c_str(), 1);
      ::setenv("WORLD_SIZE", world_text.c_str(), 1);
      ::setenv("LOCAL_RANK", rank_text.c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", world_text.c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", port_text.c_str(), 1);
      std::vector<char*> argv{const_cast<char*>(soragen_.c_str())};
      for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
      argv.push_back(nullptr);
      ::execv(soragen_.c_str(), argv.data());
      ::_exit(127);
    }
    return started;
  }

  std::vector<Rank> start_all(int world, const std::vector<std::string>& args) {
    std::vector<Rank> ranks;
    for (int r = 0; r < world; ++r) ranks.push_back(start(r, world, args));
    return ranks;
  }

  std::vector<std::string> batch_args(const fs::path& prompts, const std::string& steps = "2") const {
    return {"--prompt-file", prompts.string(), "-o", (out_ / "{index:02}.mp4").string(), "--steps", steps,
            "--frames", "5", "--seed", "3"};
  }

  // Two ranks of a batch of long renders, so that a kill lands inside one,
  // with a short timeout, so that a stale heartbeat shows soon; returned once
  // rank 1 has started its first item (`inside` false if it never did).
  std::vector<Rank> start_pair_inside_a_render(bool* inside) {
    std::vector<std::string> args = batch_args(prompt_file(4), "400");
    args.insert(args.end(), {"--rank-timeout", "3"});
    std::vector<Rank> ranks = start_all(2, args);
    *inside = wait_until([&] { return read_text(ranks[1].log).find("item 2:") != std::string::npos; }, 120);
    return ranks;
  }

  // Every name in the output folder: finished videos only, no temporaries.
  std::vector<std::string> outputs() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(out_)) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  // The outputs a log says its rank wrote.
  static std::vector<std::string> written_by(const Rank& rank) {
    const std::string log = read_text(rank.log);
    const std::regex wrote("wrote '[^']*/([0-9]+\\.mp4)'");
    std::vector<std::string> names;
    for (auto it = std::sregex_iterator(log.begin(), log.end(), wrote); it != std::sregex_iterator(); ++it) {
      names.push_back((*it)[1]);
    }
    return names;
  }

  const std::string soragen_ = (test::build_dir() / "soragen").string();
  test::TempDir dir_;
  fs::path out_;
  int port_ = 0;
  int starts_ = 0;
};

TEST_F(ShardedBatch, TenItemsOverThreeProcessesWriteEachFileOnce) {
  std::vector<Rank> ranks = start_all(3, batch_args(prompt_file(10)));
  for (const Rank& rank : ranks) EXPECT_EQ(wait_exit_code(rank.pid), 0) << read_text(rank.log);

  std::vector<std::string> expected;
  for (int i = 1; i <= 10; ++i) expected.push_back((i < 10 ? "0" : "") + std::to_string(i) + ".mp4");
  EXPECT_EQ(outputs(), expected);
  std::map<std::string, int> writes;
  for (int r = 0; r < 3; ++r) {
    for (const std::string& name : written_by(ranks[r])) {
      ++writes[name];
      // Item k (1-based) belongs to rank (k - 1) mod 3.
      EXPECT_EQ((std::stoi(name) - 1) % 3, r) << name << " written by rank " << r;
    }
  }
  for (const std::string& name : expected) EXPECT_EQ(writes[name], 1) << name;
  EXPECT_EQ(writes.size(), expected.size());
  const std::string leader = read_text(ranks[0].log);
  EXPECT_NE(leader.find("batch done: 10 ok, 0 failed, 0 skipped"), std::string::npos) << leader;
  EXPECT_NE(leader.find("(3 processes)"), std::string::npos) << leader;
  // The summary is rank 0's alone.
  EXPECT_EQ(read_text(ranks[1].log).find("batch done"), std::string::npos);
}

TEST_F(ShardedBatch, SkipExistingResumesEachRanksShare) {
  const fs::path prompts = prompt_file(6);
  for (const char* done : {"01.mp4", "02.mp4", "05.mp4"}) std::ofstream(out_ / done) << "an earlier run's video";
  std::vector<std::string> args = batch_args(prompts);
  args.push_back("--skip-existing");
  std::vector<Rank> ranks = start_all(2, args);
  for (const Rank& rank : ranks) EXPECT_EQ(wait_exit_code(rank.pid), 0) << read_text(rank.log);
  EXPECT_EQ(outputs(), (std::vector<std::string>{"01.mp4", "02.mp4", "03.mp4", "04.mp4", "05.mp4", "06.mp4"}));
  EXPECT_EQ(read_text(out_ / "02.mp4"), "an earlier run's video");
  EXPECT_EQ(written_by(ranks[0]), (std::vector<std::string>{"03.mp4"}));
  EXPECT_EQ(written_by(ranks[1]), (std::vector<std::string>{"04.mp4", "06.mp4"}));
  const std::string leader = read_text(ranks[0].log);
  EXPECT_NE(leader.find("batch done: 3 ok, 0 failed, 3 skipped"), std::string::npos) << leader;
}

TEST_F(ShardedBatch, AKilledRankStopsTheOthersWithinTheTimeout) {
  bool inside = false;
  std::vector<Rank> ranks = start_pair_inside_a_render(&inside);
  ASSERT_TRUE(inside) << read_text(ranks[1].log);
  ::kill(ranks[1].pid, SIGKILL);
  const auto killed_at = Clock::now();
  EXPECT_EQ(wait_exit_code(ranks[1].pid), 128 + SIGKILL);
  EXPECT_EQ(wait_exit_code(ranks[0].pid), 7) << read_text(ranks[0].log);
  const double seconds = std::chrono::duration<double>(Clock::now() - killed_at).count();
  EXPECT_LT(seconds, 3 + 20) << "the heartbeat timeout is 3 s";
  const std::string leader = read_text(ranks[0].log);
  EXPECT_NE(leader.find("stopped: rank 1 sent no heartbeat for 3 s"), std::string::npos) << leader;
  // Rank 0 was inside a render: it left nothing of it behind.
  for (const std::string& name : outputs()) EXPECT_EQ(name[0] == '.', false) << "temporary left: " << name;
  for (const std::string& name : outputs()) EXPECT_EQ(name, "01.mp4") << "only rank 0's finished item may be there";
}

TEST_F(ShardedBatch, AnInterruptedRankStopsTheOthersWithItsMessage) {
  bool inside = false;
  std::vector<Rank> ranks = start_pair_inside_a_render(&inside);
  ASSERT_TRUE(inside) << read_text(ranks[1].log);
  ::kill(ranks[1].pid, SIGINT);
  EXPECT_EQ(wait_exit_code(ranks[1].pid), 130) << read_text(ranks[1].log);
  EXPECT_EQ(wait_exit_code(ranks[0].pid), 7) << read_text(ranks[0].log);
  const std::string leader = read_text(ranks[0].log);
  EXPECT_NE(leader.find("stopped: rank 1: interrupted"), std::string::npos) << leader;
  for (const std::string& name : outputs()) EXPECT_NE(name[0], '.') << "temporary left: " << name;
}

TEST_F(ShardedBatch, LosingRankZeroStopsTheOthers) {
  bool inside = false;
  std::vector<Rank> ranks = start_pair_inside_a_render(&inside);
  ASSERT_TRUE(inside) << read_text(ranks[1].log);
  ::kill(ranks[0].pid, SIGKILL);
  EXPECT_EQ(wait_exit_code(ranks[0].pid), 128 + SIGKILL);
  EXPECT_EQ(wait_exit_code(ranks[1].pid), 7) << read_text(ranks[1].log);
  const std::string log = read_text(ranks[1].log);
  EXPECT_NE(log.find("stopped: rank 0, which serves the job's store at 127.0.0.1:" + std::to_string(port_) +
                     ", is gone"),
            std::string::npos)
      << log;
  EXPECT_EQ(outputs(), std::vector<std::string>{});
}

TEST_F(ShardedBatch, ARankThatNeverJoinsEndsTheJob) {
  std::vector<std::string> args = batch_args(prompt_file(2));
  args.insert(args.end(), {"--rank-timeout", "2"});
  const Rank alone = start(0, 2, args);
  EXPECT_EQ(wait_exit_code(alone.pid), 7);
  const std::string log = read_text(alone.log);
  EXPECT_NE(log.find("the job's 2 processes did not all join at 127.0.0.1:" + std::to_string(port_) +
                     " within 2 s (1 did)"),
            std::string::npos)
      << log;
  EXPECT_EQ(outputs(), std::vector<std::string>{});
}

TEST_F(ShardedBatch, RanksStartedWithDifferentBatchesRefuseToRun) {
  const Rank first = start(0, 2, batch_args(prompt_file(4)));
  const Rank second = start(1, 2, batch_args(prompt_file(3, "other.txt")));
  EXPECT_EQ(wait_exit_code(first.pid), 2) << read_text(first.log);
  EXPECT_EQ(wait_exit_code(second.pid), 2) << read_text(second.log);
  EXPECT_NE(read_text(first.log).find("rank 1's batch differs from rank 0's"), std::string::npos) << read_text(first.log);
  EXPECT_EQ(outputs(), std::vector<std::string>{});
}

// Three processes split one render three ways (Ulysses), which the
// default's 4 attention heads do not allow: every rank says so after
// loading, and nothing is written.
TEST_F(ShardedBatch, OnePromptOnThreeProcessesNeedsHeadsThatDivide) {
  const std::vector<std::string> args{"--prompt", "a red ball", "-o", (out_ / "ball.mp4").string()};
  std::vector<Rank> ranks = start_all(3, args);
  for (const Rank& rank : ranks) {
    EXPECT_EQ(wait_exit_code(rank.pid), 2) << read_text(rank.log);
    EXPECT_NE(read_text(rank.log).find("splits the 4 attention heads evenly, which 3 does not"), std::string::npos)
        << read_text(rank.log);
  }
  EXPECT_EQ(outputs(), std::vector<std::string>{});
}

TEST_F(ShardedBatch, AParallelPlanForAnotherProcessCountIsAUsageError) {
  const std::vector<std::string> args{"--prompt", "a red ball", "--parallel", "ulysses=2,cfg=2", "-o",
                                      (out_ / "ball.mp4").string()};
  std::vector<Rank> ranks = start_all(2, args);
  for (const Rank& rank : ranks) {
    EXPECT_EQ(wait_exit_code(rank.pid), 2) << read_text(rank.log);
    EXPECT_NE(read_text(rank.log).find("--parallel ulysses=2,cfg=2 needs 4 processes; this job has 2"),
              std::string::npos)
        << read_text(rank.log);
  }
  EXPECT_EQ(outputs(), std::vector<std::string>{});
}

// The frames of a PNG folder, decoded.
std::vector<std::vector<std::uint8_t>> frames_in(const fs::path& folder) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(folder)) {
    if (entry.path().extension() == ".png") files.push_back(entry.path());  // beside them: params.json
  }
  std::sort(files.begin(), files.end());
  std::vector<std::vector<std::uint8_t>> frames;
  for (const fs::path& file : files) frames.push_back(video::test::decode_file(file).rgb.at(0));
  return frames;
}

// One render split over `world` processes (by `parallel`, the processes'
// flags, or by default), against the same render in one process with the
// `extra` flags both get; `split` is how rank 0's log describes the split.
void expect_parallel_render_as_one(ShardedBatch& test, const fs::path& dir, int world,
                                   const std::vector<std::string>& extra, const std::vector<std::string>& parallel_flags,
                                   const std::string& split) {
  std::vector<std::string> common{"--prompt", "a small red circle moving to the right on a blue background",
                                  "--seed", "5", "--steps", "6", "--frames", "9"};
  common.insert(common.end(), extra.begin(), extra.end());
  std::string command = "'" + (test::build_dir() / "soragen").string() + "'";
  for (const std::string& arg : common) command += " '" + arg + "'";
  const fs::path single = dir / "single/", parallel = dir / "parallel/";
  fs::create_directories(single);
  fs::create_directories(parallel);
  const test::CommandResult one = test::run_command("env -u RANK -u WORLD_SIZE " + command + " -o '" +
                                                    single.string() + "' </dev/null");
  ASSERT_EQ(one.exit_code, 0) << one.output;

  std::vector<std::string> args = common;
  args.insert(args.end(), parallel_flags.begin(), parallel_flags.end());
  args.insert(args.end(), {"-o", parallel.string()});
  std::vector<Rank> ranks = test.start_all(world, args);
  for (const Rank& rank : ranks) ASSERT_EQ(wait_exit_code(rank.pid), 0) << read_text(rank.log);
  const std::string leader = read_text(ranks[0].log);
  EXPECT_NE(leader.find("one render over " + std::to_string(world) + " processes (" + split), std::string::npos)
      << leader;
  for (int r = 1; r < world; ++r) EXPECT_EQ(read_text(ranks[r].log).find("wrote"), std::string::npos) << "rank " << r;

  const auto expected = frames_in(single);
  const auto got = frames_in(parallel);
  ASSERT_EQ(got.size(), expected.size());
  ASSERT_EQ(expected.size(), 9u);
  // The halves' batch-1 GEMMs and the heads' smaller attention batches
  // round apart from one process's by ~1e-6, far below one step of 8-bit
  // colour; a pixel on a rounding edge may move by 1.
  int largest = 0;
  for (std::size_t f = 0; f < expected.size(); ++f) {
    ASSERT_EQ(got[f].size(), expected[f].size());
    for (std::size_t i = 0; i < expected[f].size(); ++i) largest = std::max(largest, std::abs(got[f][i] - expected[f][i]));
  }
  EXPECT_LE(largest, 1) << "largest pixel difference between one and two processes";
}

TEST_F(ShardedBatch, OneRenderOnTwoProcessesWritesWhatOneProcessWrites) {
  expect_parallel_render_as_one(*this, dir_.path(), 2, {}, {}, "CFG parallelism");
}

// Rank 1 receives rank 0's contexts and frees its own text encoder (-vv
// says so).
TEST_F(ShardedBatch, OneRenderOnTwoProcessesWithUlyssesWritesWhatOneProcessWrites) {
  expect_parallel_render_as_one(*this, dir_.path(), 2, {}, {"--parallel", "ulysses=2", "-vv"},
                                "Ulysses sequence parallelism over 2)");
  std::string rank1;
  for (const auto& entry : fs::directory_iterator(dir_.path())) {
    if (entry.path().filename().string().rfind("rank1-", 0) == 0) rank1 += read_text(entry.path());
  }
  EXPECT_NE(rank1.find("text encoder freed here"), std::string::npos) << rank1;
}

TEST_F(ShardedBatch, OneRenderOnFourProcessesWritesWhatOneProcessWrites) {
  expect_parallel_render_as_one(*this, dir_.path(), 4, {}, {},
                                "Ulysses sequence parallelism over 2, times CFG parallelism");
}

// Mid-exchange, the survivor learns of the loss from Gloo's broken pair at
// once, without waiting for the heartbeat's timeout.
TEST_F(ShardedBatch, KillingOneRankOfASplitRenderStopsTheOther) {
  const std::vector<std::string> args{"--prompt", "a small red circle moving to the right on a blue background",
                                      "--steps", "400", "--rank-timeout", "30", "-o", (out_ / "split.mp4").string()};
  std::vector<Rank> ranks = start_all(2, args);
  ASSERT_TRUE(wait_until([&] { return read_text(ranks[0].log).find("CFG parallelism") != std::string::npos; }, 120))
      << read_text(ranks[0].log);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // inside the steps
  ::kill(ranks[1].pid, SIGKILL);
  const auto killed_at = Clock::now();
  EXPECT_EQ(wait_exit_code(ranks[1].pid), 128 + SIGKILL);
  EXPECT_EQ(wait_exit_code(ranks[0].pid), 7) << read_text(ranks[0].log);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - killed_at).count(), 20) << "well before the 30 s timeout";
  EXPECT_NE(read_text(ranks[0].log).find("stopped: "), std::string::npos) << read_text(ranks[0].log);
  EXPECT_EQ(outputs(), std::vector<std::string>{});
}

TEST_F(ShardedBatch, OneRenderOnTwoProcessesWithSkipLayerGuidance) {
  expect_parallel_render_as_one(*this, dir_.path(), 2, {"--guidance-method", "slg:layers=1,start=0,end=1"}, {},
                                "CFG parallelism");
}

}  // namespace
}  // namespace soragen
