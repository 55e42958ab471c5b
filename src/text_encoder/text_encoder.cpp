#include "text_encoder/text_encoder.h"

#include "core/runtime.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <map>
#include <set>
#include <string>
#include <utility>

#include "io/state_dict.h"
#include "soragen/error.h"

namespace soragen::text_encoder {
namespace {

std::string shape_text(at::IntArrayRef shape) { return io::format_shape(shape); }

}  // namespace

void check_config_against_weights(const UMT5Config& config, const io::TensorSource& weights, const io::KeyMap& map) {
  // internal name -> checkpoint name
  std::map<std::string, std::string> names;
  std::set<int64_t> layers;
  for (const auto& checkpoint_name : weights.names()) {
    const std::optional<std::string> name = map.apply(checkpoint_name);
    if (!name) continue;
    names.emplace(*name, checkpoint_name);
    const std::string prefix = "blocks.";
    if (name->compare(0, prefix.size(), prefix) != 0) continue;
    const size_t end = name->find('.', prefix.size());
    const std::string index = name->substr(prefix.size(), end - prefix.size());
    if (!index.empty() && index.find_first_not_of("0123456789") == std::string::npos) {
      layers.insert(std::stoll(index));
    }
  }
  const std::string prefix = weights.error_prefix();
  const int64_t found_layers = layers.empty() ? 0 : *layers.rbegin() + 1;
  if (found_layers != config.num_layers || static_cast<int64_t>(layers.size()) != found_layers) {
    throw ModelError(prefix + "has " + std::to_string(layers.size()) + " encoder blocks (highest index " +
                     std::to_string(found_layers - 1) + "), " + config.origin + " says num_layers " +
                     std::to_string(config.num_layers));
  }

  struct Expected {
    std::string name;
    std::vector<int64_t> shape;
    const char* sizes;  // the config keys the shape comes from
  };
  const std::vector<Expected> expected = {
      {"token_embedding.weight", {config.vocab, config.dim}, "vocab, dim"},
      {"norm.weight", {config.dim}, "dim"},
      {"blocks.0.attn.q.weight", {config.dim_attn, config.dim}, "dim_attn, dim"},
      {"blocks.0.ffn.fc1.weight", {config.dim_ffn, config.dim}, "dim_ffn, dim"},
      {"blocks.0.pos_embedding.embedding.weight", {config.num_buckets, config.num_heads}, "num_buckets, num_heads"},
  };
  for (const auto& e : expected) {
    const auto it = names.find(e.name);
    if (it == names.end()) continue;  // the strict loader lists missing tensors
    const io::TensorInfo& info = weights.info(it->second);
    if (info.shape != e.shape) {
      const std::string shown = it->second == e.name ? "'" + e.name + "'" : "'" + it->second + "' (as '" + e.name + "')";
      throw ModelError(prefix + "tensor " + shown + " has shape " + io::format_shape(info.shape) + ", " +
                       config.origin + " implies " + io::format_shape(e.shape) + " (" + e.sizes + ")");
    }
  }
}

TextEncoder::TextEncoder(const UMT5Config& config, const io::TensorSource& weights, TextEncoderOptions options)
    : config_(config), options_(std::move(options)) {
  if (!at::isFloatingType(options_.dtype)) {
    throw UsageError("text encoder: dtype must be floating point, got " + std::string(c10::toString(options_.dtype)));
  }
  layout_ = options_.layout ? *options_.layout : detect_text_encoder_layout(weights);
  const io::KeyMap map = text_encoder_key_map(layout_, weights);
  check_config_against_weights(config_, weights, map);
  UMT5BuildOptions build;
  build.tensors = at::TensorOptions().dtype(options_.dtype).device(options_.device);
  build.fp32_matmul = options_.fp32_matmul.value_or(options_.device.is_cpu() && !core::cpu_has_fast_bf16_matmul());
  fp32_matmul_ = build.fp32_matmul && (options_.dtype == at::kBFloat16 || options_.dtype == at::kHalf);
  module_ = UMT5Encoder(config_, build);
  io::LoadOptions load;
  load.key_map = &map;
  load.unexpected_is_error = options_.strict_weights;
  // Each tensor is converted as it is copied into the module's (already
  // typed) parameters, so only one checkpoint tensor is in flight at a time.
  io::load_state_dict(*module_, weights, options_.log, load);
  module_->eval();
}

std::unique_ptr<TextEncoder> TextEncoder::open(const std::filesystem::path& weights, const UMT5Config& config,
                                               TextEncoderOptions options) {
  const std::unique_ptr<io::TensorSource> source = open_text_encoder_weights(weights);
  return std::make_unique<TextEncoder>(config, *source, std::move(options));
}

std::unique_ptr<TextEncoder> load_text_encoder(const io::TensorSource& source, TextEncoderLayout layout,
                                               const UMT5Config& config, TextEncoderOptions options) {
  options.layout = layout;
  return std::make_unique<TextEncoder>(config, source, std::move(options));
}

void TextEncoder::to(const c10::Device& device) {
  module_->to(device);
  options_.device = device;
}

at::Tensor TextEncoder::hidden_states(const at::Tensor& ids, const at::Tensor& mask, UMT5Trace* trace) const {
  if (!ids.defined() || ids.dim() != 2 || at::isFloatingType(ids.scalar_type()) || ids.scalar_type() == at::kBool) {
    throw InternalError("text encoder: ids must be an integer tensor [B, L], got " +
                        (ids.defined() ? std::string(c10::toString(ids.scalar_type())) + " " + shape_text(ids.sizes())
                        : std::string("none")));
  }
  if (mask.defined() && !mask.sizes().equals(ids.sizes())) {
    throw InternalError("text encoder: mask has shape " + shape_text(mask.sizes()) + ", ids " +
                        shape_text(ids.sizes()));
  }
  c10::InferenceMode guard;
  if (ids.numel() > 0) {
    const int64_t low = ids.min().item<int64_t>();
    const int64_t high = ids.max().item<int64_t>();
    if (low < 0 || high >= config_.vocab) {
      throw ModelError(config_.origin + ": token id " + std::to_string(low < 0 ? low : high) +
                       " is outside the text encoder's vocabulary [0, " + std::to_string(config_.vocab) + ")");
    }
  }
  if (mask.defined() && mask.numel() > 0 && !(mask.eq(0) | mask.eq(1)).all().item<bool>()) {
    throw InternalError("text encoder: mask values must be 0 or 1");
  }
  const at::Tensor ids_here = ids.to(options_.device, at::kLong);
  const at::Tensor mask_here = mask.defined() ? mask.to(options_.device) : at::Tensor();
  // forward() is logically const: it reads the weights and keeps no state.
  return module_.ptr()->forward(ids_here, mask_here, trace);
}

std::vector<at::Tensor> TextEncoder::encode(const at::Tensor& ids, const at::Tensor& mask) const {
  const at::Tensor hidden = hidden_states(ids, mask);
  c10::InferenceMode guard;
  const int64_t batch = hidden.size(0);
  const at::Tensor lengths =
      mask.defined() ? mask.gt(0).sum(1).to(at::kCPU, at::kLong) : at::full({batch}, hidden.size(1), at::kLong);
  std::vector<at::Tensor> contexts;
  contexts.reserve(static_cast<size_t>(batch));
  for (int64_t b = 0; b < batch; ++b) contexts.push_back(hidden[b].narrow(0, 0, lengths[b].item<int64_t>()));
  return contexts;
}

}  // namespace soragen::text_encoder
