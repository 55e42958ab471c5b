// The launchers' variables: torchrun, Slurm's srun and Open MPI's mpirun, and
// a plain start with none of them.
#include <gtest/gtest.h>

#include <map>

#include "expect_throw.h"
#include "soragen/distributed.h"
#include "soragen/error.h"

namespace soragen {
namespace {

using Variables = std::map<std::string, std::string>;

LaunchEnvironment read(const Variables& variables) {
  return launch_environment([&](const std::string& name) -> std::optional<std::string> {
    const auto found = variables.find(name);
    if (found == variables.end()) return std::nullopt;
    return found->second;
  });
}

TEST(LaunchEnvironment, NoLauncherIsOneProcess) {
  const LaunchEnvironment env = read({{"HOME", "/root"}});
  EXPECT_EQ(env.launcher, Launcher::none);
  EXPECT_EQ(env.rank, 0);
  EXPECT_EQ(env.world_size, 1);
  EXPECT_FALSE(env.several_processes());
}

TEST(LaunchEnvironment, Torchrun) {
  const LaunchEnvironment env = read({{"RANK", "5"}, {"WORLD_SIZE", "8"}, {"LOCAL_RANK", "1"},
                                      {"LOCAL_WORLD_SIZE", "4"}, {"MASTER_ADDR", "node7"}, {"MASTER_PORT", "1234"}});
  EXPECT_EQ(env.launcher, Launcher::torchrun);
  EXPECT_EQ(env.rank, 5);
  EXPECT_EQ(env.world_size, 8);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.local_world_size, 4);
  EXPECT_EQ(env.master_addr, "node7");
  EXPECT_EQ(env.master_port, 1234);
  EXPECT_TRUE(env.several_processes());
}

TEST(LaunchEnvironment, TorchrunDefaultsThePortAndTheLocalPlace) {
  const LaunchEnvironment env = read({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}});
  EXPECT_EQ(env.master_port, 29500);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.local_world_size, 2);
}

TEST(LaunchEnvironment, BadTorchrunVariablesAreUsageErrors) {
  SORAGEN_EXPECT_THROW_MESSAGE(read({{"RANK", "1"}, {"WORLD_SIZE", "2"}}), UsageError, "MASTER_ADDR is not", true);
  SORAGEN_EXPECT_THROW_MESSAGE(read({{"RANK", "one"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}}), UsageError,
                               "RANK='one': expected a whole number", true);
  SORAGEN_EXPECT_THROW_MESSAGE(read({{"RANK", "-1"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}}), UsageError,
                               "RANK='-1'", true);
  SORAGEN_EXPECT_THROW_MESSAGE(read({{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}}), UsageError,
                               "RANK=2 and WORLD_SIZE=2: the rank must be below", true);
  SORAGEN_EXPECT_THROW_MESSAGE(read({{"RANK", "0"}, {"WORLD_SIZE", "0"}}), UsageError, "WORLD_SIZE=0", true);
  SORAGEN_EXPECT_THROW_MESSAGE(read({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "70000"}}),
                               UsageError, "MASTER_PORT=70000", true);
}

TEST(LaunchEnvironment, SlurmStep) {
  const LaunchEnvironment env =
      read({{"SLURM_PROCID", "3"}, {"SLURM_NTASKS", "16"}, {"SLURM_STEP_NUM_TASKS", "4"}, {"SLURM_LOCALID", "1"},
            {"SLURM_NTASKS_PER_NODE", "2(x2)"}, {"SLURM_STEP_NODELIST", "gpu[07-08]"},
            {"SLURM_NODELIST", "gpu[01-08]"}, {"SLURM_JOB_ID", "123456"}});
  EXPECT_EQ(env.launcher, Launcher::slurm);
  EXPECT_EQ(env.rank, 3);
  EXPECT_EQ(env.world_size, 4);  // the step's tasks, not the allocation's
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.local_world_size, 2);
  EXPECT_EQ(env.master_addr, "gpu07");
  EXPECT_EQ(env.master_port, 29500 + 456);
}

TEST(LaunchEnvironment, SlurmTakesMasterAddrAndPortWhenSet) {
  const LaunchEnvironment env = read({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"SLURM_NODELIST", "a,b"},
                                      {"MASTER_ADDR", "login1"}, {"MASTER_PORT", "4000"}});
  EXPECT_EQ(env.master_addr, "login1");
  EXPECT_EQ(env.master_port, 4000);
  EXPECT_EQ(env.local_world_size, 1);
}

TEST(LaunchEnvironment, SlurmWithoutANodeListNeedsMasterAddr) {
  SORAGEN_EXPECT_THROW_MESSAGE(read({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}}), UsageError,
                               "host of rank 0 is unknown", true);
  SORAGEN_EXPECT_THROW_MESSAGE(read({{"SLURM_PROCID", "2"}, {"SLURM_NTASKS", "2"}, {"SLURM_NODELIST", "a"}}),
                               UsageError, "SLURM_PROCID=2 and SLURM_NTASKS=2", true);
}

TEST(LaunchEnvironment, OpenMpi) {
  const LaunchEnvironment one_machine =
      read({{"OMPI_COMM_WORLD_RANK", "2"}, {"OMPI_COMM_WORLD_SIZE", "3"}, {"OMPI_COMM_WORLD_LOCAL_RANK", "2"},
            {"OMPI_COMM_WORLD_LOCAL_SIZE", "3"}});
  EXPECT_EQ(one_machine.launcher, Launcher::mpi);
  EXPECT_EQ(one_machine.rank, 2);
  EXPECT_EQ(one_machine.world_size, 3);
  EXPECT_EQ(one_machine.master_addr, "127.0.0.1");
  SORAGEN_EXPECT_THROW_MESSAGE(read({{"OMPI_COMM_WORLD_RANK", "0"}, {"OMPI_COMM_WORLD_SIZE", "4"},
                                     {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}}),
                               UsageError, "set MASTER_ADDR", true);
  const LaunchEnvironment two_machines = read({{"OMPI_COMM_WORLD_RANK", "0"}, {"OMPI_COMM_WORLD_SIZE", "4"},
                                               {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}, {"MASTER_ADDR", "n1"}});
  EXPECT_EQ(two_machines.master_addr, "n1");
}

TEST(LaunchEnvironment, TorchrunVariablesWinOverTheSchedulers) {
  // torchrun started inside an srun step: its own numbering is the job's.
  const LaunchEnvironment env = read({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"},
                                      {"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "1"}});
  EXPECT_EQ(env.launcher, Launcher::torchrun);
  EXPECT_EQ(env.rank, 1);
}

TEST(LaunchEnvironment, FirstSlurmHost) {
  EXPECT_EQ(first_slurm_host("node1"), "node1");
  EXPECT_EQ(first_slurm_host("a,b"), "a");
  EXPECT_EQ(first_slurm_host("gpu[03-05,9],cpu1"), "gpu03");
  EXPECT_EQ(first_slurm_host("gpu[9,03-05]"), "gpu9");
  EXPECT_EQ(first_slurm_host("rack1-[2,4]"), "rack1-2");
  for (const char* bad : {"", "[1-2]", "gpu[", "gpu[x]", "gpu[1]x", ",a"}) {
    SORAGEN_EXPECT_THROW_MESSAGE(first_slurm_host(bad), UsageError, "expected host names", true);
  }
}

TEST(LaunchEnvironment, LauncherNames) {
  EXPECT_EQ(launcher_name(Launcher::torchrun), "torchrun");
  EXPECT_EQ(launcher_name(Launcher::slurm), "Slurm");
  EXPECT_EQ(launcher_name(Launcher::mpi), "mpirun");
  EXPECT_EQ(launcher_name(Launcher::none), "none");
}

TEST(LaunchEnvironment, DeviceForRank) {
  LaunchEnvironment env;
  env.local_rank = 1;
  EXPECT_EQ(device_for_rank("cpu", env), "cpu");
  EXPECT_EQ(device_for_rank("cuda:3", env), "cuda:3");
  // Without CUDA (CI), auto is the CPU; with it, the rank's own GPU.
  const std::string automatic = device_for_rank("auto", env);
  EXPECT_TRUE(automatic == "cpu" || automatic.rfind("cuda:", 0) == 0) << automatic;
}

}  // namespace
}  // namespace soragen
