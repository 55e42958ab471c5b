// Where this process sits in a multi-process job, from the variables its
// launcher set (include/soragen/distributed.h lists them).
#include <algorithm>
#include <cstdlib>
#include <limits>

#include "soragen/distributed.h"
#include "soragen/error.h"

namespace soragen {
namespace {

constexpr int kDefaultPort = 29500;

int whole_number(const EnvironmentLookup& lookup, const std::string& name, int fallback) {
  const std::optional<std::string> text = lookup(name);
  if (!text) return fallback;
  if (text->empty() || text->size() > 9 || text->find_first_not_of("0123456789") != std::string::npos) {
    throw UsageError("environment variable " + name + "='" + *text + "': expected a whole number");
  }
  return std::stoi(*text);
}

// Slurm writes tasks per node as "4" or "4(x2),3"; the first count is this
// node's on a homogeneous allocation, which is all soragen uses it for
// (sharing the cores among the ranks on a machine).
int leading_count(const EnvironmentLookup& lookup, const std::string& name, int fallback) {
  const std::optional<std::string> text = lookup(name);
  if (!text) return fallback;
  const std::size_t digits = text->find_first_not_of("0123456789");
  const std::string count = text->substr(0, digits);
  if (count.empty() || count.size() > 9) {
    throw UsageError("environment variable " + name + "='" + *text + "': expected a count such as 4 or 4(x2)");
  }
  return std::stoi(count);
}

std::optional<std::string> first_set(const EnvironmentLookup& lookup, const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    if (auto value = lookup(name); value && !value->empty()) return value;
  }
  return std::nullopt;
}

void check_place(const LaunchEnvironment& env, const std::string& rank_name, const std::string& size_name) {
  if (env.world_size < 1) throw UsageError("environment variable " + size_name + "=0: a job has at least one process");
  if (env.rank >= env.world_size) {
    throw UsageError("environment variables " + rank_name + "=" + std::to_string(env.rank) + " and " + size_name + "=" +
                     std::to_string(env.world_size) + ": the rank must be below the number of processes");
  }
  if (env.local_world_size < 1 || env.local_rank >= std::max(env.local_world_size, env.world_size)) {
    throw UsageError("launcher variables: local rank " + std::to_string(env.local_rank) + " of " +
                     std::to_string(env.local_world_size) + " processes on this machine is not a place");
  }
  if (env.master_port < 1 || env.master_port > 65535) {
    throw UsageError("environment variable MASTER_PORT=" + std::to_string(env.master_port) +
                     ": expected a port from 1 to 65535");
  }
}

LaunchEnvironment from_torchrun(const EnvironmentLookup& lookup) {
  LaunchEnvironment env;
  env.launcher = Launcher::torchrun;
  env.rank = whole_number(lookup, "RANK", 0);
  env.world_size = whole_number(lookup, "WORLD_SIZE", 1);
  env.local_rank = whole_number(lookup, "LOCAL_RANK", env.rank);
  env.local_world_size = whole_number(lookup, "LOCAL_WORLD_SIZE", env.world_size);
  env.master_port = whole_number(lookup, "MASTER_PORT", kDefaultPort);
  env.master_addr = lookup("MASTER_ADDR").value_or("");
  if (env.master_addr.empty() && env.world_size > 1) {
    throw UsageError("environment variables RANK and WORLD_SIZE are set but MASTER_ADDR is not: "
                     "set it to the host of rank 0 (torchrun sets it)");
  }
  check_place(env, "RANK", "WORLD_SIZE");
  return env;
}

LaunchEnvironment from_slurm(const EnvironmentLookup& lookup) {
  LaunchEnvironment env;
  env.launcher = Launcher::slurm;
  const std::string size_name = lookup("SLURM_STEP_NUM_TASKS") ? "SLURM_STEP_NUM_TASKS" : "SLURM_NTASKS";
  env.rank = whole_number(lookup, "SLURM_PROCID", 0);
  env.world_size = whole_number(lookup, size_name, 1);
  env.local_rank = whole_number(lookup, "SLURM_LOCALID", 0);
  env.local_world_size = leading_count(lookup, "SLURM_NTASKS_PER_NODE", 0);
  if (env.local_world_size == 0) env.local_world_size = leading_count(lookup, "SLURM_TASKS_PER_NODE", 1);
  const int job_id = whole_number(lookup, "SLURM_JOB_ID", 0);
  env.master_port = whole_number(lookup, "MASTER_PORT", kDefaultPort + job_id % 1000);
  if (auto addr = lookup("MASTER_ADDR"); addr && !addr->empty()) {
    env.master_addr = *addr;
  } else if (auto nodes = first_set(lookup, {"SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST", "SLURM_NODELIST"})) {
    env.master_addr = first_slurm_host(*nodes);
  } else if (env.world_size > 1) {
    throw UsageError("Slurm: neither MASTER_ADDR nor SLURM_NODELIST is set, so the host of rank 0 is unknown");
  }
  check_place(env, "SLURM_PROCID", size_name);
  return env;
}

LaunchEnvironment from_mpi(const EnvironmentLookup& lookup) {
  LaunchEnvironment env;
  env.launcher = Launcher::mpi;
  env.rank = whole_number(lookup, "OMPI_COMM_WORLD_RANK", 0);
  env.world_size = whole_number(lookup, "OMPI_COMM_WORLD_SIZE", 1);
  env.local_rank = whole_number(lookup, "OMPI_COMM_WORLD_LOCAL_RANK", 0);
  env.local_world_size = whole_number(lookup, "OMPI_COMM_WORLD_LOCAL_SIZE", env.world_size);
  env.master_port = whole_number(lookup, "MASTER_PORT", kDefaultPort);
  if (auto addr = lookup("MASTER_ADDR"); addr && !addr->empty()) {
    env.master_addr = *addr;
  } else if (env.local_world_size == env.world_size) {
    env.master_addr = "127.0.0.1";  // every rank on this machine
  } else {
    throw UsageError("mpirun over several machines: set MASTER_ADDR to the host of rank 0 "
                     "(mpirun -x MASTER_ADDR=host)");
  }
  check_place(env, "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE");
  return env;
}

}  // namespace

std::string launcher_name(Launcher launcher) {
  switch (launcher) {
    case Launcher::torchrun: return "torchrun";
    case Launcher::slurm: return "Slurm";
    case Launcher::mpi: return "mpirun";
    default: return "none";
  }
}

std::string first_slurm_host(const std::string& node_list) {
  // The first entry ends at the first comma outside brackets.
  std::size_t end = 0;
  int depth = 0;
  for (; end < node_list.size(); ++end) {
    const char c = node_list[end];
    if (c == '[') ++depth;
    if (c == ']') --depth;
    if (c == ',' && depth == 0) break;
    if (depth < 0 || depth > 1) break;
  }
  const std::string entry = node_list.substr(0, end);
  const std::size_t open = entry.find('[');
  if (entry.empty() || depth != 0 || open == 0) {
    throw UsageError("Slurm node list '" + node_list + "': expected host names such as gpu[03-05,9]");
  }
  if (open == std::string::npos) return entry;
  const std::size_t close = entry.find(']', open);
  if (close == std::string::npos || close != entry.size() - 1) {
    throw UsageError("Slurm node list '" + node_list + "': expected host names such as gpu[03-05,9]");
  }
  // The first number of the first range, with its zero padding as written.
  const std::string ranges = entry.substr(open + 1, close - open - 1);
  const std::size_t stop = ranges.find_first_of("-,");
  const std::string first = ranges.substr(0, stop);
  if (first.empty() || first.find_first_not_of("0123456789") != std::string::npos) {
    throw UsageError("Slurm node list '" + node_list + "': expected host names such as gpu[03-05,9]");
  }
  return entry.substr(0, open) + first;
}

LaunchEnvironment launch_environment(const EnvironmentLookup& lookup) {
  if (lookup("RANK") || lookup("WORLD_SIZE")) return from_torchrun(lookup);
  if (lookup("SLURM_PROCID")) return from_slurm(lookup);
  if (lookup("OMPI_COMM_WORLD_RANK")) return from_mpi(lookup);
  return {};
}

LaunchEnvironment launch_environment_of_process() {
  return launch_environment([](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (!value) return std::nullopt;
    return std::string(value);
  });
}

}  // namespace soragen
