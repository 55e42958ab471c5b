// Several soragen processes as one job, on PyTorch's own distributed engine
// (c10d). Whatever started the processes (torchrun, Slurm's srun, Open MPI's
// mpirun, or a test), they meet through one c10d TCPStore that rank 0 serves
// at MASTER_ADDR:MASTER_PORT. A plain `soragen` sees none of the launchers'
// variables and stays one process.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace soragen {

enum class Launcher { none, torchrun, slurm, mpi };

// Where this process sits in the job, read from the launcher's variables.
struct LaunchEnvironment {
  Launcher launcher = Launcher::none;
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;        // index among the ranks on this machine (its GPU)
  int local_world_size = 1;  // ranks on this machine (they share its cores)
  std::string master_addr;   // the host of rank 0, which serves the store
  int master_port = 29500;   // c10d's default port

  bool several_processes() const { return world_size > 1; }
};

// "torchrun", "Slurm", "mpirun", or "none".
std::string launcher_name(Launcher launcher);

// Looks a variable up; std::nullopt when it is not set.
using EnvironmentLookup = std::function<std::optional<std::string>(const std::string&)>;

// Reads, first found wins:
//   torchrun (or any launcher of its convention): RANK, WORLD_SIZE,
//     LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT;
//   Slurm: SLURM_PROCID, SLURM_STEP_NUM_TASKS (else SLURM_NTASKS),
//     SLURM_LOCALID, SLURM_NTASKS_PER_NODE; rank 0's host is MASTER_ADDR or
//     the first node of SLURM_STEP_NODELIST / SLURM_JOB_NODELIST / SLURM_NODELIST,
//     the port MASTER_PORT or 29500 + SLURM_JOB_ID % 1000, so that two jobs
//     sharing a node do not meet;
//   Open MPI: OMPI_COMM_WORLD_RANK, _SIZE, _LOCAL_RANK, _LOCAL_SIZE; rank 0's
//     host is MASTER_ADDR, or 127.0.0.1 when every rank is on one machine.
// Throws UsageError naming the variable when one is not a number, the rank is
// outside the world, or rank 0's host cannot be known.
LaunchEnvironment launch_environment(const EnvironmentLookup& lookup);

// launch_environment() of this process's environment.
LaunchEnvironment launch_environment_of_process();

// The first host of a Slurm node list: "gpu[03-05,9],cpu1" -> "gpu03".
// Throws UsageError for an empty or malformed list.
std::string first_slurm_host(const std::string& node_list);

// The device a rank renders on: "auto" and "cuda" become cuda:LOCAL_RANK
// (modulo the GPUs this machine has) where CUDA is available; "auto" is the
// CPU elsewhere; "cpu" and "cuda:N" stay as they are.
std::string device_for_rank(const std::string& device, const LaunchEnvironment& env);

// How one render is split over the processes of a job (--parallel):
// `ulysses` ranks share each DiT pass's tokens (sequence parallelism over
// the attention heads), and `cfg` = 1 or 2 groups of them split CFG's
// conditional and unconditional passes. ulysses * cfg is the world size.
struct ParallelPlan {
  int ulysses = 1;
  int cfg = 1;
};

// "ulysses=U,cfg=C", either part optional (the other is then 1), or "auto"
// (std::nullopt: automatic_parallel_plan of the world size). Throws
// std::invalid_argument naming what is wrong.
std::optional<ParallelPlan> parse_parallel(const std::string& text);
// "ulysses=U,cfg=C".
std::string parallel_text(const ParallelPlan& plan);
// The plan for "auto": CFG over 2 ranks where the world size is even, and
// Ulysses over the rest (2 -> cfg=2; 4 -> ulysses=2,cfg=2; 3 -> ulysses=3).
ParallelPlan automatic_parallel_plan(int world_size);
// Throws UsageError unless ulysses * cfg == world_size, cfg is 1 or 2 and
// ulysses >= 1.
void check_parallel_plan(const ParallelPlan& plan, int world_size);

// The ranks of a job, joined through a c10d TCPStore. Every rank sends a
// heartbeat; rank 0 watches them. A rank that reports a failure, or stops
// sending heartbeats for `timeout`, ends the job: every other rank sees the
// failure, and the flag given to join() is set, so that a render in progress
// stops at its next step and leaves no partial output.
class ProcessGroup {
 public:
  // Rank 0 starts the store, the others connect to it; returns when all
  // world_size ranks are in. Throws Error naming the host and port when
  // that does not happen within `timeout`. `silence` (default: `timeout`)
  // is how long a rank may send no heartbeat.
  static std::unique_ptr<ProcessGroup> join(const LaunchEnvironment& env, std::chrono::milliseconds timeout,
                                            std::atomic<bool>* stop,
                                            std::optional<std::chrono::milliseconds> silence = std::nullopt);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const;
  int world_size() const;

  // Every rank's `value`, indexed by rank. Collective: every rank calls it
  // with the same tags in the same order. Waits as long as the ranks are
  // alive; throws Error once the job has failed.
  std::vector<std::string> all_gather(const std::string& tag, const std::string& value);

  // Tells every rank that this one failed with `message`.
  void report_failure(const std::string& message);

  // What ended the job, if anything did: "rank 2: <its message>" or a rank
  // that fell silent. std::nullopt while every rank is well.
  std::optional<std::string> failure() const;

  // The last call of a rank that ends well: rank 0 keeps the store up until
  // every rank has left it (at most the timeout).
  void leave();

  struct State;

 private:
  friend struct ProcessGroupInternals;
  explicit ProcessGroup(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace soragen
