#include <cstdlib>
#include <stdexcept>

#include "soragen/distributed.h"
#include "soragen/error.h"

namespace soragen {
namespace {

int positive_count(const std::string& name, const std::string& value) {
  char* end = nullptr;
  const long count = value.empty() ? 0 : std::strtol(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || count < 1 || count > 4096) {
    throw std::invalid_argument(name + "='" + value + "': expected a whole number of processes, 1 or more");
  }
  return static_cast<int>(count);
}

}  // namespace

std::optional<ParallelPlan> parse_parallel(const std::string& text) {
  if (text == "auto") return std::nullopt;
  ParallelPlan plan;
  bool seen_ulysses = false, seen_cfg = false;
  std::string::size_type start = 0;
  while (start <= text.size()) {
    const std::string::size_type comma = text.find(',', start);
    const std::string part = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const std::string::size_type equals = part.find('=');
    const std::string name = part.substr(0, equals);
    if (equals == std::string::npos || (name != "ulysses" && name != "cfg")) {
      throw std::invalid_argument("'" + part + "': expected ulysses=U and/or cfg=C, e.g. ulysses=2,cfg=2, or auto");
    }
    bool& seen = name == "ulysses" ? seen_ulysses : seen_cfg;
    if (seen) throw std::invalid_argument(name + " is given twice");
    seen = true;
    (name == "ulysses" ? plan.ulysses : plan.cfg) = positive_count(name, part.substr(equals + 1));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (plan.cfg > 2) {
    throw std::invalid_argument("cfg=" + std::to_string(plan.cfg) +
                                ": CFG parallelism splits a guided pass in two, conditional and unconditional: cfg=1 "
                                "or cfg=2");
  }
  return plan;
}

std::string parallel_text(const ParallelPlan& plan) {
  return "ulysses=" + std::to_string(plan.ulysses) + ",cfg=" + std::to_string(plan.cfg);
}

ParallelPlan automatic_parallel_plan(int world_size) {
  if (world_size % 2 == 0) return {world_size / 2, 2};
  return {world_size, 1};
}

void check_parallel_plan(const ParallelPlan& plan, int world_size) {
  if (plan.ulysses < 1 || plan.cfg < 1 || plan.cfg > 2 || plan.ulysses * plan.cfg != world_size) {
    const int needed = plan.ulysses * plan.cfg;
    throw UsageError("--parallel " + parallel_text(plan) + " needs " + std::to_string(needed) +
                     " processes; this job has " + std::to_string(world_size) +
                     (world_size == 1 ? " (start them with torchrun --nproc-per-node " + std::to_string(needed) +
                                            " --no-python soragen ..., srun or mpirun)"
                                      : " (ulysses times cfg must be the number of processes)"));
  }
}

}  // namespace soragen
