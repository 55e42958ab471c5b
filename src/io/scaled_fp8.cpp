#include "io/scaled_fp8.h"

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "soragen/error.h"

namespace soragen::io {
namespace {

constexpr const char* kScaleWeight = ".scale_weight";
constexpr const char* kScaleInput = ".scale_input";
constexpr const char* kScaledMarker = "scaled_fp8";

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

class ScaledFp8Source final : public TensorSource {
 public:
  ScaledFp8Source(const TensorSource& inner, std::unique_ptr<TensorSource> owned, const std::set<std::string>& kept)
      : TensorSource(inner.path()), inner_(inner), owned_(std::move(owned)) {
    metadata_ = inner_.metadata();
    for (const auto& [name, info] : inner_.infos()) {
      if (ends_with(name, kScaledMarker) || ends_with(name, kScaleWeight) || ends_with(name, kScaleInput)) continue;
      infos_[name] = info;
      if (!ends_with(name, ".weight")) continue;
      const std::string scale = name.substr(0, name.size() - 7) + kScaleWeight;
      if (!inner_.contains(scale)) continue;
      if (kept.count(name)) {
        infos_[scale] = inner_.info(scale);
        continue;
      }
      scales_[name] = scale;
      infos_[name].dtype = "F32";
    }
  }

  std::string format() const override { return inner_.format(); }

  at::Tensor load(const std::string& name) const override {
    info(name);  // hidden or unknown names throw here
    const auto it = scales_.find(name);
    if (it == scales_.end()) return inner_.load(name);
    const at::Tensor weight = inner_.load(name).to(at::kFloat);
    at::Tensor scale = inner_.load(it->second).to(at::kFloat);
    if (scale.numel() == 1) {
      scale = scale.reshape({});
    } else if (weight.dim() >= 1 && scale.numel() == weight.size(0)) {
      // One scale per output row.
      std::vector<int64_t> shape(static_cast<size_t>(weight.dim()), 1);
      shape[0] = weight.size(0);
      scale = scale.reshape(shape);
    } else {
      throw ModelError(error_prefix() + "tensor '" + it->second + "' has shape " + format_shape(scale.sizes()) +
                       ", which does not scale '" + name + "' " + format_shape(weight.sizes()));
    }
    return weight * scale;
  }

 private:
  const TensorSource& inner_;
  std::unique_ptr<TensorSource> owned_;  // null when borrowed
  std::map<std::string, std::string> scales_;  // weight name -> its scale_weight
};

}  // namespace

bool is_scaled_fp8(const TensorSource& source) {
  for (const auto& entry : source.infos()) {
    if (ends_with(entry.first, kScaledMarker) || ends_with(entry.first, kScaleWeight)) return true;
  }
  return false;
}

std::unique_ptr<TensorSource> scaled_fp8_view(const TensorSource& source) {
  return std::make_unique<ScaledFp8Source>(source, nullptr, std::set<std::string>());
}

std::unique_ptr<TensorSource> scaled_fp8_view(const TensorSource& source, std::set<std::string> kept) {
  return std::make_unique<ScaledFp8Source>(source, nullptr, kept);
}

std::unique_ptr<TensorSource> dequantize_scaled_fp8(std::unique_ptr<TensorSource> source) {
  const TensorSource& inner = *source;
  return std::make_unique<ScaledFp8Source>(inner, std::move(source), std::set<std::string>());
}

}  // namespace soragen::io
