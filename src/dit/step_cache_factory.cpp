#include "dit/step_cache_factory.h"

#include "core/parse_rule.h"
#include "dit/first_block_cache.h"
#include "dit/magcache.h"
#include "dit/teacache.h"
#include "soragen/error.h"

namespace soragen::dit {

namespace {

void check_tables(const StepCacheSpec& spec, const StepCacheTables& tables, const std::string& text) {
  if (spec.method == StepCacheMethod::teacache && !tables.teacache) {
    throw UsageError("--cache " + text + ": " + tables.model +
                     " has no TeaCache coefficients (published for Wan2.1 T2V-1.3B and T2V-14B; a bundled model "
                     "may carry its own); use magcache or fbcache");
  }
  if (spec.method == StepCacheMethod::magcache && !tables.magcache) {
    throw UsageError("--cache " + text + ": " + tables.model +
                     " has no MagCache ratios (published for Wan2.1 T2V-1.3B and T2V-14B, Wan2.2 T2V-A14B, "
                     "I2V-A14B and TI2V-5B; a bundled model may carry its own); use fbcache");
  }
}

}  // namespace

void check_step_cache_for_model(const std::string& text, const StepCacheTables& tables) {
  check_tables(core::parse_flag(parse_step_cache, "--cache", text), tables, text);
}

std::unique_ptr<StepCache> make_step_cache(const StepCacheSpec& spec, const StepCacheTables& tables,
                                           const StepCacheRender& render) {
  check_tables(spec, tables, method_name(spec.method));
  switch (spec.method) {
    case StepCacheMethod::none: return nullptr;
    case StepCacheMethod::fbcache:
      return std::make_unique<FirstBlockCache>(spec.threshold.value_or(FirstBlockCache::kDefaultThreshold));
    case StepCacheMethod::teacache:
      return std::make_unique<TeaCache>(*tables.teacache, spec.threshold.value_or(tables.teacache->threshold));
    case StepCacheMethod::magcache: {
      const MagCacheTable& table =
          render.from_image && tables.magcache_image ? *tables.magcache_image : *tables.magcache;
      const MagCacheSettings settings{spec.threshold.value_or(table.threshold),
                                      spec.max_skips.value_or(table.max_skips),
                                      spec.retention.value_or(table.retention)};
      return std::make_unique<MagCache>(table, settings, render.steps, render.high_noise_steps);
    }
  }
  return nullptr;
}

}  // namespace soragen::dit
