#include "pipeline/video_vae.h"

#include "soragen/error.h"

namespace soragen::pipeline {
namespace {

template <typename... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <typename... F>
Overloaded(F...) -> Overloaded<F...>;

}  // namespace

int64_t vae_z_dim(const AnyVaeConfig& config) {
  return std::visit(Overloaded{[](const vae::VaeConfig& c) { return c.z_dim; },
                               [](const vae::Vae22Config& c) { return c.common.z_dim; }},
                    config);
}

int64_t vae_spatial_factor(const AnyVaeConfig& config) {
  return std::visit([](const auto& c) { return c.spatial_factor(); }, config);
}

int64_t vae_temporal_factor(const AnyVaeConfig& config) {
  return std::visit([](const auto& c) { return c.temporal_factor(); }, config);
}

const char* vae_kind_name(const AnyVaeConfig& config) {
  return std::holds_alternative<vae::VaeConfig>(config) ? "Wan2.1 VAE" : "Wan2.2 VAE";
}

AnyVaeConfig VideoVae::config() const {
  return std::visit([](const auto& model) -> AnyVaeConfig { return model->config(); }, model_);
}

torch::nn::Module& VideoVae::module() {
  return std::visit([](auto& model) -> torch::nn::Module& { return *model; }, model_);
}

at::Tensor VideoVae::encode(const at::Tensor& video) {
  return std::visit([&](auto& model) { return model->encode(video); }, model_);
}

void VideoVae::decode_frames(const at::Tensor& z, const vae::FrameChunkCallback& on_frames,
                             const vae::TileOptions& tiling) {
  std::visit(Overloaded{[&](vae::WanVAE& model) {
                          vae::DecodeOptions options;
                          options.tiling = tiling;
                          model->decode_frames(z, on_frames, options);
                        },
                        [&](vae::WanVAE22& model) {
                          if (tiling.enabled()) throw InternalError("the Wan2.2 VAE decodes untiled only");
                          model->decode_frames(z, on_frames);
                        }},
             model_);
}

}  // namespace soragen::pipeline
