#include "sampling/guidance_method.h"

#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include "core/parse_rule.h"

namespace soragen::sampling {
namespace {

using core::parse_number;

std::vector<int> parse_layers(const std::string& value) {
  std::vector<int> layers;
  for (const std::string& part : core::split_text(value, '+')) {
    char* end = nullptr;
    const long layer = part.empty() ? -1 : std::strtol(part.c_str(), &end, 10);
    if (part.empty() || *end != '\0' || layer < 0 || layer > 1000) {
      throw std::invalid_argument("layers='" + value + "': expected block indices joined by '+', e.g. 7+8+9");
    }
    layers.push_back(static_cast<int>(layer));
  }
  return layers;
}

void set_apg(ApgSettings& apg, const std::string& key, const std::string& value) {
  if (key == "eta") {
    apg.eta = parse_number(key, value);
  } else if (key == "momentum") {
    apg.momentum = parse_number(key, value);
    // |beta| >= 1 makes the running average grow without bound.
    if (std::abs(apg.momentum) >= 1) throw std::invalid_argument("momentum=" + value + " must be in (-1, 1)");
  } else if (key == "norm") {
    apg.norm_threshold = parse_number(key, value);
    if (apg.norm_threshold < 0) throw std::invalid_argument("norm=" + value + " must be 0 (no cap) or above");
  } else {
    throw std::invalid_argument("apg takes eta, momentum and norm, not '" + key + "'");
  }
}

void set_slg(SkipLayerSettings& slg, bool sd35, const std::string& key, const std::string& value) {
  if (key == "layers") {
    slg.layers = parse_layers(value);
  } else if (key == "start") {
    slg.start = parse_number(key, value);
  } else if (key == "end") {
    slg.end = parse_number(key, value);
  } else if (key == "scale" && sd35) {
    slg.scale = parse_number(key, value);
  } else {
    throw std::invalid_argument(std::string(sd35 ? "slg-sd35 takes layers, scale, start and end"
                                                 : "slg takes layers, start and end") +
                                ", not '" + key + "'");
  }
}

}  // namespace

bool GuidanceMethod::skips_layers_at(int step, int steps) const {
  if (kind == GuidanceKind::slg) {
    return static_cast<int>(slg.start * steps) <= step && step < static_cast<int>(slg.end * steps);
  }
  if (kind == GuidanceKind::slg_sd35) return slg.start * steps < step && step < slg.end * steps;
  return false;
}

GuidanceMethod parse_guidance_method(const std::string& text) {
  const std::string::size_type colon = text.find(':');
  const std::string name = text.substr(0, colon);
  GuidanceMethod method;
  if (name == "cfg") {
    method.kind = GuidanceKind::cfg;
  } else if (name == "cfg-zero-star") {
    method.kind = GuidanceKind::cfg_zero_star;
  } else if (name == "apg") {
    method.kind = GuidanceKind::apg;
  } else if (name == "slg") {
    // Wan2GP's defaults: block 9 of the unconditional pass, from 10% to 90% of the steps.
    method.kind = GuidanceKind::slg;
    method.slg = {{9}, 0.0, 0.1, 0.9};
  } else if (name == "slg-sd35") {
    // sd3_infer.py's skip_layer_config for SD3.5 Medium.
    method.kind = GuidanceKind::slg_sd35;
    method.slg = {{7, 8, 9}, 2.5, 0.01, 0.2};
  } else {
    throw std::invalid_argument("'" + name + "': expected cfg, cfg-zero-star, apg, slg or slg-sd35");
  }
  if (colon == std::string::npos) return method;
  const bool takes_settings = method.kind == GuidanceKind::apg || method.kind == GuidanceKind::slg ||
                              method.kind == GuidanceKind::slg_sd35;
  if (!takes_settings) throw std::invalid_argument(name + " takes no settings");
  for (const std::string& setting : core::split_text(text.substr(colon + 1), ',')) {
    const std::string::size_type equals = setting.find('=');
    if (equals == std::string::npos || equals == 0) {
      throw std::invalid_argument("'" + setting + "': expected key=value");
    }
    const std::string key = setting.substr(0, equals);
    const std::string value = setting.substr(equals + 1);
    if (method.kind == GuidanceKind::apg) {
      set_apg(method.apg, key, value);
    } else {
      set_slg(method.slg, method.kind == GuidanceKind::slg_sd35, key, value);
    }
  }
  if (method.slg.start < 0 || method.slg.end > 1 || method.slg.start > method.slg.end) {
    throw std::invalid_argument("start and end are fractions of the steps with 0 <= start <= end <= 1");
  }
  return method;
}

std::string guidance_method_error(const std::string& text) { return core::parse_error(parse_guidance_method, text); }

}  // namespace soragen::sampling
