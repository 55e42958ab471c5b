#include "dit/lora.h"

#include <torch/nn/module.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "dit/lora_keys.h"
#include "dit/quantized_linear.h"
#include "dit/wan_model.h"
#include "io/tensor_source.h"
#include "soragen/error.h"

namespace soragen::dit {
namespace {

std::optional<LoraExpert> expert_named(const std::string& text) {
  if (text == "both") return LoraExpert::both;
  if (text == "high") return LoraExpert::high;
  if (text == "low") return LoraExpert::low;
  return std::nullopt;
}

std::optional<double> number(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(text.c_str(), &end);
  if (errno != 0 || end != text.c_str() + text.size() || !std::isfinite(value)) return std::nullopt;
  return value;
}

// The tensors of one module in the file.
struct ModuleTensors {
  std::optional<std::string> down, up, alpha, diff, diff_bias;
};

std::string shape_of(const at::Tensor& tensor) { return io::format_shape(tensor.sizes()); }

}  // namespace

const char* lora_expert_name(LoraExpert expert) {
  switch (expert) {
    case LoraExpert::both: return "both";
    case LoraExpert::high: return "high";
    case LoraExpert::low: return "low";
  }
  return "both";
}

std::string lora_spec_error(const std::string& text) {
  try {
    parse_lora_spec(text);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

LoraSpec parse_lora_spec(const std::string& text) {
  LoraSpec spec;
  std::string rest = text;
  // From the right: an expert keyword, then a number; whatever is left is the path.
  std::size_t colon = rest.rfind(':');
  if (colon != std::string::npos) {
    if (const auto expert = expert_named(rest.substr(colon + 1))) {
      spec.expert = *expert;
      rest.erase(colon);
      colon = rest.rfind(':');
      if (colon == std::string::npos || !number(rest.substr(colon + 1))) {
        throw UsageError("--lora '" + text + "': an expert (high, low or both) comes after a scale: FILE:SCALE:EXPERT");
      }
    }
  }
  if (colon != std::string::npos) {
    if (const auto scale = number(rest.substr(colon + 1))) {
      spec.scale = *scale;
      rest.erase(colon);
    }
  }
  if (rest.empty()) throw UsageError("--lora '" + text + "': must name a LoRA file: FILE[:SCALE[:high|low|both]]");
  spec.path = rest;
  return spec;
}

LoraSpec parse_lora_spec(const std::string& text, bool two_experts) {
  LoraSpec spec = parse_lora_spec(text);
  if (spec.expert != LoraExpert::both && !two_experts) {
    throw UsageError("--lora '" + text + "': this model has one DiT; '" + lora_expert_name(spec.expert) +
                     "' names an expert of a Wan2.2 A14B model");
  }
  return spec;
}

LoraMergeReport merge_lora(torch::nn::Module& dit, const io::TensorSource& lora, double scale, const Logger& log) {
  std::map<std::string, at::Tensor> parameters;
  std::set<std::string> names;
  for (const auto& item : dit.named_parameters(true)) {
    parameters.emplace(item.key(), item.value());
    names.insert(item.key());
  }
  const DitParameterNames parameter_names(std::move(names));
  const std::string prefix = "LoRA '" + lora.path().string() + "': ";

  LoraMergeReport report;
  std::map<std::string, ModuleTensors> modules;
  for (const std::string& name : lora.names()) {
    const std::optional<LoraKey> key = parse_lora_key(name, parameter_names);
    if (!key) {
      report.unmatched.push_back(name);
      continue;
    }
    ModuleTensors& tensors = modules[key->module];
    switch (key->part) {
      case LoraPart::down: tensors.down = name; break;
      case LoraPart::up: tensors.up = name; break;
      case LoraPart::alpha: tensors.alpha = name; break;
      case LoraPart::diff: tensors.diff = name; break;
      case LoraPart::diff_bias: tensors.diff_bias = name; break;
    }
  }

  // Linear layers that keep quantized codes (dit/quantized_linear.h), by
  // their weight's name.
  std::map<std::string, LinearImpl*> quantized;
  for (const auto& item : dit.named_modules("", false)) {
    auto* linear = dynamic_cast<LinearImpl*>(item.value().get());
    if (linear && linear->is_quantized()) quantized.emplace(item.key() + ".weight", linear);
  }

  const torch::NoGradGuard no_grad;
  // target += delta, in float32, stored back in the target's dtype; a
  // quantized weight is decoded, summed and quantized again with new scales.
  const auto add = [&](const std::string& parameter, const at::Tensor& delta) {
    at::Tensor& target = parameters.at(parameter);
    const auto kept = quantized.find(parameter);
    if (kept != quantized.end()) {
      LinearImpl& linear = *kept->second;
      const at::Tensor sum = decode_weight(linear.weight, linear.scale_weight).add_(delta.to(target.device()));
      const auto [codes, scales] = requantize(sum, linear.weight, linear.scale_weight);
      linear.weight.copy_(codes);
      linear.scale_weight.copy_(scales);
      linear.pack();
    } else {
      target.copy_(target.to(at::kFloat).add_(delta.to(target.device())));
    }
    ++report.merged;
  };
  const auto find = [&](const std::string& name) -> const at::Tensor* {
    const auto it = parameters.find(name);
    return it == parameters.end() ? nullptr : &it->second;
  };
  const auto unmatched = [&](const ModuleTensors& tensors) {
    for (const auto& name : {tensors.down, tensors.up, tensors.alpha, tensors.diff, tensors.diff_bias}) {
      if (name) report.unmatched.push_back(*name);
    }
  };

  for (const auto& [module, tensors] : modules) {
    const at::Tensor* weight = find(module + ".weight");
    if (tensors.down || tensors.up) {
      if (!weight) {
        unmatched(tensors);
        continue;
      }
      if (!tensors.down || !tensors.up) {
        throw ModelError(prefix + "tensor '" + *(tensors.down ? tensors.down : tensors.up) + "' has no " +
                         (tensors.down ? "up (lora_B)" : "down (lora_A)") + " matrix beside it");
      }
      const at::Tensor down = lora.load(*tensors.down).to(at::kFloat).flatten(1);
      const at::Tensor up = lora.load(*tensors.up).to(at::kFloat).flatten(1);
      const int64_t rank = down.size(0);
      // W [out, in, ...]: up [out, rank], down [rank, in * ...].
      if (weight->dim() < 2 || up.size(1) != rank || up.size(0) != weight->size(0) ||
          down.size(1) != weight->numel() / weight->size(0)) {
        throw ModelError(prefix + "tensors '" + *tensors.up + "' " + shape_of(up) + " and '" + *tensors.down + "' " +
                         shape_of(down) + " do not fit the DiT's '" + module + ".weight' " + shape_of(*weight) +
                         ": a LoRA for another model");
      }
      double factor = scale;
      if (tensors.alpha) {
        const at::Tensor alpha = lora.load(*tensors.alpha);
        if (alpha.numel() != 1) {
          throw ModelError(prefix + "tensor '" + *tensors.alpha + "' " + shape_of(alpha) + " must hold one number");
        }
        factor *= alpha.to(at::kDouble).item<double>() / static_cast<double>(rank);
      }
      const auto kept = quantized.find(module + ".weight");
      if (kept != quantized.end()) {
        // Merged, the product would be rounded to the codes' precision: it
        // is applied at run time, beside the quantized weight, instead.
        kept->second->deltas.push_back({down.to(weight->device()), up.to(weight->device()), factor});
        ++report.merged;
        ++report.at_run_time;
      } else {
        add(module + ".weight", at::mm(up, down).mul_(factor).reshape(weight->sizes()));
      }
    } else if (tensors.alpha) {
      unmatched(tensors);
      continue;
    }
    if (tensors.diff) {
      const std::string target = weight ? module + ".weight" : module;  // "blocks.0.modulation" is a parameter
      const at::Tensor* parameter = find(target);
      if (!parameter) {
        report.unmatched.push_back(*tensors.diff);
      } else {
        const at::Tensor diff = lora.load(*tensors.diff).to(at::kFloat);
        if (!diff.sizes().equals(parameter->sizes())) {
          throw ModelError(prefix + "tensor '" + *tensors.diff + "' " + shape_of(diff) + " does not fit the DiT's '" +
                           target + "' " + shape_of(*parameter) + ": a LoRA for another model");
        }
        add(target, diff * scale);
      }
    }
    if (tensors.diff_bias) {
      const at::Tensor* bias = find(module + ".bias");
      if (!bias) {
        report.unmatched.push_back(*tensors.diff_bias);
      } else {
        const at::Tensor diff = lora.load(*tensors.diff_bias).to(at::kFloat);
        if (!diff.sizes().equals(bias->sizes())) {
          throw ModelError(prefix + "tensor '" + *tensors.diff_bias + "' " + shape_of(diff) +
                           " does not fit the DiT's '" + module + ".bias' " + shape_of(*bias) +
                           ": a LoRA for another model");
        }
        add(module + ".bias", diff * scale);
      }
    }
  }

  if (!report.unmatched.empty()) {
    std::string first;
    for (std::size_t i = 0; i < report.unmatched.size() && i < 3; ++i) {
      first += (i ? ", '" : "'") + report.unmatched[i] + "'";
    }
    log.warn(prefix + std::to_string(report.unmatched.size()) + " of " + std::to_string(lora.size()) +
             " tensors match no DiT parameter and are ignored (first: " + first + ")");
  }
  char scale_text[32];
  std::snprintf(scale_text, sizeof scale_text, "%g", scale);
  if (report.merged == 0) {
    log.warn(prefix + "nothing merged: none of its tensors is a LoRA of this DiT");
  } else {
    log.info(prefix + "merged into " + std::to_string(report.merged) + " parameters at scale " + scale_text +
             (report.at_run_time ? " (" + std::to_string(report.at_run_time) +
                                       " of them quantized: applied at run time)"
                                 : std::string()));
  }
  return report;
}

}  // namespace soragen::dit
