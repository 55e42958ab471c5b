// The stage options of the trainer tests' short runs: a couple of steps,
// a log line every step, no checkpoint before the end.
#pragma once

#include <cstdint>
#include <filesystem>

#include "train.h"

namespace soragen::train::test {

inline StageOptions short_run(const std::filesystem::path& work, std::uint64_t seed, int batch) {
  StageOptions options;
  options.work = work;
  options.seed = seed;
  options.steps = 2;
  options.batch = batch;
  options.lr = 1e-3;
  options.log_every = 1;
  options.save_every = 100;
  return options;
}

}  // namespace soragen::train::test
