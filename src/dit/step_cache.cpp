#include "dit/step_cache.h"

#include <ATen/ATen.h>

#include <cmath>
#include <stdexcept>

#include "core/parse_rule.h"

namespace soragen::dit {

namespace {

const char* const kExpected = "expected none, fbcache[:THRESHOLD], teacache[:THRESHOLD] or "
                              "magcache[:THRESHOLD][,k=K][,retention=R]";

double parse_threshold(const std::string& value, bool at_most_one) {
  const double threshold = core::parse_number("threshold", value);
  if (!(threshold > 0) || (at_most_one && threshold > 1)) {
    throw std::invalid_argument("threshold '" + value + "': expected a number above 0" +
                                (at_most_one ? std::string(" and at most 1, e.g. 0.1") : std::string(", e.g. 0.1")));
  }
  return threshold;
}

}  // namespace

const char* method_name(StepCacheMethod method) {
  switch (method) {
    case StepCacheMethod::fbcache: return "fbcache";
    case StepCacheMethod::teacache: return "teacache";
    case StepCacheMethod::magcache: return "magcache";
    case StepCacheMethod::none: break;
  }
  return "none";
}

StepCacheSpec parse_step_cache(const std::string& text) {
  StepCacheSpec spec;
  if (text == "none") return spec;
  const std::string::size_type colon = text.find(':');
  const std::string name = text.substr(0, colon);
  if (name == "fbcache") {
    spec.method = StepCacheMethod::fbcache;
  } else if (name == "teacache") {
    spec.method = StepCacheMethod::teacache;
  } else if (name == "magcache") {
    spec.method = StepCacheMethod::magcache;
  } else {
    throw std::invalid_argument("'" + name + "': " + kExpected);
  }
  if (colon == std::string::npos) return spec;
  const std::vector<std::string> parts = core::split_text(text.substr(colon + 1), ',');
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string& part = parts[i];
    const std::string::size_type equals = part.find('=');
    if (equals == std::string::npos) {
      // A bare number: the threshold, first.
      if (i != 0) throw std::invalid_argument("'" + part + "': settings after the threshold are key=value");
      // fbcache compares a relative change, so its threshold is a fraction;
      // the others accumulate and may go above 1.
      spec.threshold = parse_threshold(part, spec.method == StepCacheMethod::fbcache);
      continue;
    }
    const std::string key = part.substr(0, equals), value = part.substr(equals + 1);
    if (spec.method != StepCacheMethod::magcache) {
      throw std::invalid_argument("'" + key + "': " + method_name(spec.method) + " takes a threshold only");
    }
    if (key == "threshold") {
      spec.threshold = parse_threshold(value, false);
    } else if (key == "k") {
      const double k = core::parse_number("k", value);
      if (!(k >= 1 && k <= 1000) || k != std::floor(k)) {
        throw std::invalid_argument("k '" + value + "': expected a whole number of passes from 1, e.g. 2");
      }
      spec.max_skips = static_cast<int>(k);
    } else if (key == "retention") {
      const double retention = core::parse_number("retention", value);
      if (!(retention >= 0 && retention < 1)) {
        throw std::invalid_argument("retention '" + value + "': expected a share of the steps in [0, 1), e.g. 0.2");
      }
      spec.retention = retention;
    } else {
      throw std::invalid_argument("'" + key + "': magcache takes threshold, k and retention");
    }
  }
  return spec;
}

std::string step_cache_error(const std::string& text) { return core::parse_error(parse_step_cache, text); }

void StepCache::begin_pass(int step, std::vector<PassRow> rows) {
  step_ = step;
  rows_ = std::move(rows);
}

bool StepCache::decide(const at::Tensor& signal, const at::Tensor& tokens, const SumOverRanks& sum_over_ranks) {
  ++passes_;
  const bool ready = residual_.defined() && residual_.sizes().equals(tokens.sizes());
  return reusable(signal, sum_over_ranks, ready) && ready;
}

at::Tensor StepCache::reuse(const at::Tensor& tokens) {
  ++reused_;
  return tokens + residual_;
}

void StepCache::store(const at::Tensor& residual, int64_t /*valid_tokens*/) { residual_ = residual; }

}  // namespace soragen::dit
