// The step cache a render's settings and its model's tables call for.
#pragma once

#include <memory>
#include <string>

#include "dit/step_cache.h"
#include "dit/step_cache_tables.h"

namespace soragen::dit {

struct StepCacheRender {
  int steps = 0;
  int high_noise_steps = 0;  // of a two-expert model: steps the high-noise expert serves
  bool from_image = false;   // TI2V with a first frame (its own MagCache table)
};

// The cache for one kind of pass of one render; null for none. Settings the
// spec leaves unset come from the table. Throws UsageError when the model
// has no table for the method.
std::unique_ptr<StepCache> make_step_cache(const StepCacheSpec& spec, const StepCacheTables& tables,
                                           const StepCacheRender& render);

// The same refusal, before any weight loads; `text` is the --cache text.
void check_step_cache_for_model(const std::string& text, const StepCacheTables& tables);

// Whether one cache serves every expert of a render: MagCache's counters run
// over the whole schedule in the reference, whichever expert a step uses.
inline bool shared_across_experts(const StepCacheSpec& spec) { return spec.method == StepCacheMethod::magcache; }

}  // namespace soragen::dit
