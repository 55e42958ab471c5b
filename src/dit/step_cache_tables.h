// What TeaCache and MagCache know of a model: fitted once per model by
// running it without caching (their calibration), then read at every render.
// The published tables of Wan2.1 and Wan2.2 are built in; a bundled model
// carries its own in model.json ("step_cache", written by
// `soragen-eval --calibrate-cache`).
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "dit/config.h"

namespace soragen::dit {

// TeaCache in its e0 ("retention steps") form: the relative L1 change of the
// time modulation e0 between passes, rescaled by `coefficients` (a
// polynomial, highest power first, as numpy.poly1d), is accumulated; a pass
// reuses while the sum stays below the threshold. The first `ret_steps`
// steps always run.
struct TeaCacheTable {
  std::vector<double> coefficients;
  int ret_steps = 5;
  double threshold = 0.1;  // the published "slow" (quality) setting
};

// MagCache: `ratios` holds, for the steps after the first, the mean ratio of
// a pass's residual norm to the previous pass's, cond and uncond interleaved
// (2 * (steps - 1) values, for the `steps` the table was measured at; other
// step counts take the nearest entries). How a two-expert model's retention
// works is `split`: none (one DiT), "t2v" (the first `retention` of each
// expert's steps run) or "i2v" (the high-noise expert's steps and the first
// `retention` of the low-noise expert's run).
struct MagCacheTable {
  std::vector<double> ratios;
  double threshold = 0.12;
  int max_skips = 2;
  double retention = 0.2;
  std::string split;  // "", "t2v" or "i2v"
};

struct StepCacheTables {
  std::string model;  // for messages: "Wan2.1 T2V-1.3B", "the bundled model 'default'"
  std::optional<TeaCacheTable> teacache;
  std::optional<MagCacheTable> magcache;
  // TI2V-5B's table for renders from an image, where it differs.
  std::optional<MagCacheTable> magcache_image;
};

// The published tables of a DiT, recognised by its shape: Wan2.1 T2V-1.3B
// and T2V-14B (TeaCache, MagCache), Wan2.2 T2V-A14B, I2V-A14B and TI2V-5B
// (MagCache). Any other DiT has none (model = "this DiT").
StepCacheTables published_step_cache_tables(const DitConfig& dit, bool two_experts);

// model.json's "step_cache" object: {"teacache": {"coefficients": [...],
// "ret_steps": N, "threshold": T}, "magcache": {"ratios": [...], "threshold":
// T, "k": K, "retention": R}}. Throws ModelError naming `where`.
StepCacheTables step_cache_tables_from_json(const nlohmann::json& json, const std::string& model,
                                            const std::string& where);
nlohmann::json to_json(const StepCacheTables& tables);

}  // namespace soragen::dit
