#include "io/state_dict.h"

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <map>

#include "io/bus_guard.h"
#include "soragen/error.h"

namespace soragen::io {
namespace {

// Names shown per category in an error or warning; the count says the rest.
constexpr size_t kShownNames = 5;

std::string first_names(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < kShownNames; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > kShownNames) out += ", ...";
  return out;
}

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.size() >= prefix.size() && text.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

std::optional<std::string> KeyMap::apply(const std::string& checkpoint_name) const {
  for (const auto& prefix : dropped_prefixes) {
    if (starts_with(checkpoint_name, prefix)) return std::nullopt;
  }
  std::string name = checkpoint_name;
  for (const auto& rule : renames) {
    if (rule.from.empty()) continue;
    if (rule.kind == KeyRename::Kind::prefix) {
      if (starts_with(name, rule.from)) name = rule.to + name.substr(rule.from.size());
    } else {
      for (size_t pos = name.find(rule.from); pos != std::string::npos;
           pos = name.find(rule.from, pos + rule.to.size())) {
        name.replace(pos, rule.from.size(), rule.to);
      }
    }
  }
  return name;
}

LoadReport load_state_dict(torch::nn::Module& module, const TensorSource& source, const Logger& log,
                           const LoadOptions& options) {
  LoadReport report;
  const std::string prefix = source.error_prefix();

  // internal name -> checkpoint name
  std::map<std::string, std::string> available;
  std::vector<std::string> collisions;
  for (const auto& checkpoint_name : source.names()) {
    std::optional<std::string> name =
        options.key_map ? options.key_map->apply(checkpoint_name) : std::optional<std::string>(checkpoint_name);
    if (!name) {
      ++report.dropped;
      continue;
    }
    auto [it, inserted] = available.emplace(*name, checkpoint_name);
    if (!inserted) collisions.push_back("'" + it->second + "' and '" + checkpoint_name + "' both map to '" + *name + "'");
  }
  if (!collisions.empty()) {
    throw ModelError(prefix + std::to_string(collisions.size()) + " name collision(s) after renaming: " +
                     first_names(collisions));
  }

  std::vector<std::pair<std::string, at::Tensor>> targets;
  for (const auto& item : module.named_parameters(true)) targets.emplace_back(item.key(), item.value());
  for (const auto& item : module.named_buffers(true)) targets.emplace_back(item.key(), item.value());

  std::vector<std::string> missing;
  std::vector<std::string> mismatched;
  std::map<std::string, bool> used;
  for (const auto& [name, target] : targets) {
    const auto it = available.find(name);
    if (it == available.end()) {
      missing.push_back(name);
      continue;
    }
    used[name] = true;
    const TensorInfo& info = source.info(it->second);
    if (!target.sizes().equals(info.shape)) {
      const std::string shown = it->second == name ? "'" + name + "'" : "'" + it->second + "' (as '" + name + "')";
      mismatched.push_back("tensor " + shown + " has shape " + format_shape(info.shape) + ", expected " +
                           format_shape(target.sizes()));
    }
  }
  if (!missing.empty() || !mismatched.empty()) {
    std::string message = prefix;
    if (!missing.empty()) {
      message += std::to_string(missing.size()) + " of " + std::to_string(targets.size()) +
                 " tensors missing (" + first_names(missing) + ")";
    }
    if (!mismatched.empty()) {
      if (!missing.empty()) message += "; ";
      message += std::to_string(mismatched.size()) + " shape mismatch(es): ";
      for (size_t i = 0; i < mismatched.size(); ++i) message += (i ? "; " : "") + mismatched[i];
    }
    throw ModelError(message);
  }

  torch::NoGradGuard no_grad;
  for (auto& [name, target] : targets) {
    at::Tensor value = source.load(available.at(name));
    const bool floating = at::isFloatingType(target.scalar_type());
    const at::ScalarType dtype = floating && options.dtype ? *options.dtype : target.scalar_type();
    if (dtype == target.scalar_type()) {
      target.copy_(value);
    } else {
      // Replaces the storage in place, so the module's holders (and any
      // optimizer-free references to them) see the new dtype.
      target.set_data(value.to(target.device(), dtype, /*non_blocking=*/false, /*copy=*/true));
    }
    ++report.loaded;
  }
  // A file truncated while mapped reads as zeros past its new end (see
  // io/bus_guard.h); the copies above are then garbage and must not be used.
  check_mappings_intact();

  for (const auto& [name, checkpoint_name] : available) {
    if (!used.count(name)) report.unexpected.push_back(checkpoint_name);
  }
  if (!report.unexpected.empty() && options.unexpected_is_error) {
    throw ModelError(prefix + std::to_string(report.unexpected.size()) + " unexpected tensor(s) (" +
                     first_names(report.unexpected) + "); --strict-weights refuses them");
  }
  if (!report.unexpected.empty()) {
    log.warn(prefix + std::to_string(report.unexpected.size()) + " unexpected tensor(s) ignored (" +
             first_names(report.unexpected) + ")");
  }
  return report;
}

}  // namespace soragen::io
