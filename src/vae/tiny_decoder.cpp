#include "vae/tiny_decoder.h"

#include <torch/nn/modules/linear.h>

#include <map>
#include <string>
#include <utility>

#include "io/state_dict.h"
#include "soragen/error.h"

namespace soragen::vae {
namespace {

enum class LayerKind { clamp, conv, relu, mem_block, upsample, tgrow };

struct Layer {
  LayerKind kind;
  std::size_t stage = 0;  // for stage layers
  std::size_t block = 0;  // the MemBlock's index within its stage
};

Layer layer_at(std::size_t index) {
  if (index == kTinyClamp) return {LayerKind::clamp};
  if (index == kTinyFirstConv || index == kTinyLastConv) return {LayerKind::conv};
  if (index == kTinyFirstRelu || index == kTinyLastRelu) return {LayerKind::relu};
  const std::size_t stage = (index - tiny_stage_base(0)) / 6;
  const std::size_t offset = index - tiny_stage_base(stage);
  if (offset < kTinyMemBlocksPerStage) return {LayerKind::mem_block, stage, offset};
  if (index == tiny_stage_upsample(stage)) return {LayerKind::upsample, stage};
  if (index == tiny_stage_tgrow(stage)) return {LayerKind::tgrow, stage};
  return {LayerKind::conv, stage};
}

torch::nn::Conv2d conv3x3(int64_t in, int64_t out, bool bias) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1).bias(bias));
}

// `inner` with each TGrow conv that has more output channels than this
// config reads cut to its last `rows` (taehv.py patch_tgrow_layers): the
// later frames' channels, which a stage without time upscaling keeps.
class TrimmedTGrowSource final : public io::TensorSource {
 public:
  TrimmedTGrowSource(const io::TensorSource& inner, const std::map<std::string, int64_t>& rows)
      : io::TensorSource(inner.path()), inner_(inner) {
    infos_ = inner_.infos();
    metadata_ = inner_.metadata();
    for (const auto& [name, needed] : rows) {
      const auto it = infos_.find(name);
      if (it == infos_.end() || it->second.shape.empty() || it->second.shape[0] <= needed) continue;
      it->second.shape[0] = needed;
      rows_[name] = needed;
    }
  }

  std::string format() const override { return inner_.format(); }

  at::Tensor load(const std::string& name) const override {
    info(name);  // unknown names throw here
    const at::Tensor tensor = inner_.load(name);
    const auto it = rows_.find(name);
    if (it == rows_.end()) return tensor;
    return tensor.narrow(0, tensor.size(0) - it->second, it->second);
  }

 private:
  const io::TensorSource& inner_;
  std::map<std::string, int64_t> rows_;  // trimmed TGrow weights -> rows kept
};

}  // namespace

TinyMemBlockImpl::TinyMemBlockImpl(int64_t channels) {
  conv = register_module("conv", torch::nn::ModuleList());
  conv0_ = conv3x3(2 * channels, channels, true);
  conv2_ = conv3x3(channels, channels, true);
  conv4_ = conv3x3(channels, channels, true);
  // The ReLUs hold no weights; Identity keeps nn.Sequential's numbering.
  conv->push_back(conv0_);
  conv->push_back(torch::nn::Identity());
  conv->push_back(conv2_);
  conv->push_back(torch::nn::Identity());
  conv->push_back(conv4_);
}

at::Tensor TinyMemBlockImpl::forward(const at::Tensor& x, const at::Tensor& past) {
  at::Tensor y = at::relu(conv0_->forward(at::cat({x, past}, 1)));
  y = at::relu(conv2_->forward(y));
  return at::relu(conv4_->forward(y) + x);
}

TinyTGrowImpl::TinyTGrowImpl(int64_t channels, int64_t stride) : stride_(stride) {
  conv = register_module("conv",
                         torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, channels * stride, 1).bias(false)));
}

std::vector<at::Tensor> TinyTGrowImpl::frames(const at::Tensor& x) {
  std::vector<at::Tensor> out;
  for (const at::Tensor& frame : conv->forward(x).chunk(stride_, 1)) out.push_back(frame.contiguous());
  return out;
}

TinyDecoderImpl::TinyDecoderImpl(TinyDecoderConfig config) : config_(std::move(config)) {
  config_.validate("tiny decoder config");
  const auto& n = config_.widths;
  decoder = register_module("decoder", torch::nn::ModuleList());
  first_ = conv3x3(config_.latent_channels, n[0], true);
  last_ = conv3x3(n[kTinyStages], 3 * config_.patch_size * config_.patch_size, true);
  for (std::size_t index = 0; index < kTinyLayers; ++index) {
    const Layer layer = layer_at(index);
    const int64_t width = n[layer.stage];
    switch (layer.kind) {
      case LayerKind::clamp:
      case LayerKind::relu:
      case LayerKind::upsample:
        decoder->push_back(torch::nn::Identity());  // no weights
        break;
      case LayerKind::mem_block:
        mem_.push_back(TinyMemBlock(width));
        decoder->push_back(mem_.back());
        break;
      case LayerKind::tgrow:
        grow_.push_back(TinyTGrow(width, config_.time_upscale[layer.stage] ? 2 : 1));
        decoder->push_back(grow_.back());
        break;
      case LayerKind::conv:
        if (index == kTinyFirstConv) {
          decoder->push_back(first_);
        } else if (index == kTinyLastConv) {
          decoder->push_back(last_);
        } else {
          stage_conv_.push_back(conv3x3(width, n[layer.stage + 1], false));
          decoder->push_back(stage_conv_.back());
        }
        break;
    }
  }
}

void TinyDecoderImpl::load_weights(const io::TensorSource& source, const Logger& log,
                                   const TinyDecoderLoadOptions& options) {
  std::map<std::string, int64_t> tgrow_rows;
  for (std::size_t stage = 0; stage < kTinyStages; ++stage) {
    tgrow_rows[tiny_layer_name(tiny_stage_tgrow(stage)) + ".conv.weight"] =
        config_.widths[stage] * grow_[stage]->stride();
  }
  const TrimmedTGrowSource view(source, tgrow_rows);
  io::KeyMap map;
  map.dropped_prefixes = {"encoder."};  // the public files hold TAEHV's encoder too
  io::LoadOptions load;
  load.key_map = &map;
  load.dtype = options.dtype;
  load.unexpected_is_error = options.strict_weights;
  const io::LoadReport report = io::load_state_dict(*this, view, log, load);
  log.debug(source.error_prefix() + "loaded " + std::to_string(report.loaded) + " tiny decoder tensors (" +
            std::to_string(config_.latent_channels) + " latent channels, " +
            std::to_string(config_.spatial_factor()) + "x space, " + std::to_string(config_.temporal_factor()) +
            "x time)");
}

TinyDecoder load_tiny_decoder(const io::TensorSource& source, const TinyDecoderConfig& config, const Logger& log,
                              const TinyDecoderLoadOptions& options) {
  TinyDecoder decoder(config);
  decoder->load_weights(source, log, options);
  return decoder;
}

at::Tensor TinyDecoderImpl::input(const at::Tensor& z) const {
  if (z.dim() != 5 || z.size(1) != config_.latent_channels) {
    throw InternalError("tiny decoder: latent must be [B, " + std::to_string(config_.latent_channels) +
                        ", T, h, w], got " + io::format_shape(z.sizes()));
  }
  return z.to(first_->weight.device(), first_->weight.scalar_type());
}

at::Tensor TinyDecoderImpl::apply(std::size_t index, const at::Tensor& x) {
  const Layer layer = layer_at(index);
  switch (layer.kind) {
    case LayerKind::clamp:
      return at::tanh(x / 3.0) * 3.0;  // taehv.py Clamp: a soft bound on the latent
    case LayerKind::relu:
      return at::relu(x);
    case LayerKind::upsample:
      if (!config_.space_upscale[layer.stage]) return x;
      return at::upsample_nearest2d(x, {2 * x.size(2), 2 * x.size(3)});
    case LayerKind::conv:
      if (index == kTinyFirstConv) return first_->forward(x);
      if (index == kTinyLastConv) return last_->forward(x);
      return stage_conv_[layer.stage]->forward(x);
    case LayerKind::mem_block:
    case LayerKind::tgrow:
      break;
  }
  throw InternalError("tiny decoder: layer " + std::to_string(index) + " needs the frame order");
}

at::Tensor TinyDecoderImpl::finish(const at::Tensor& x, bool clamp) const {
  const at::Tensor pixels = config_.patch_size > 1 ? at::pixel_shuffle(x, config_.patch_size) : x;
  return clamp ? pixels.clamp(0.0, 1.0) : pixels;
}

void TinyDecoderImpl::decode_frames(const at::Tensor& z, const TinyFrameCallback& on_frame, bool clamp) {
  const at::Tensor latent = input(z);
  std::vector<at::Tensor> memory(kTinyLayers);  // each MemBlock's input at the previous timestep
  int64_t made = 0;
  const int64_t trim = config_.frames_to_trim();
  // Depth first from layer `start`: a TGrow's frames each run to the end
  // before the next, so frames come out in order.
  std::function<void(std::size_t, at::Tensor)> run = [&](std::size_t start, at::Tensor x) {
    for (std::size_t index = start; index < kTinyLayers; ++index) {
      const Layer layer = layer_at(index);
      if (layer.kind == LayerKind::mem_block) {
        const at::Tensor past = memory[index].defined() ? memory[index] : at::zeros_like(x);
        memory[index] = x;
        x = mem_[layer.stage * kTinyMemBlocksPerStage + layer.block]->forward(x, past);
      } else if (layer.kind == LayerKind::tgrow) {
        for (const at::Tensor& frame : grow_[layer.stage]->frames(x)) run(index + 1, frame);
        return;
      } else {
        x = apply(index, x);
      }
    }
    // The first t - 1 frames lead up to the first latent's own frame (the
    // Wan VAE makes one frame of latent 0): they are dropped.
    if (made++ < trim) return;
    on_frame(finish(x, clamp), made - 1 - trim);
  };
  for (int64_t t = 0; t < latent.size(2); ++t) run(0, latent.select(2, t).contiguous());
}

at::Tensor TinyDecoderImpl::decode(const at::Tensor& z, bool clamp) {
  std::vector<at::Tensor> frames;
  decode_frames(z, [&](const at::Tensor& frame, int64_t) { frames.push_back(frame); }, clamp);
  return at::stack(frames, 2);
}

}  // namespace soragen::vae
