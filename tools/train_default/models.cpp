#include "models.h"

#include "configs.h"

namespace soragen::train {

vae::WanVAE make_vae() {
  return vae::WanVAE(vae::VaeConfig::from_json(nlohmann::json::parse(vae_config().dump()), "training VAE config"));
}

text_encoder::UMT5Encoder make_text_encoder(int vocab) {
  const auto config = text_encoder::parse_umt5_config(nlohmann::json::parse(text_encoder_config(vocab).dump()),
                                                      "training text encoder config");
  text_encoder::UMT5BuildOptions build;
  build.tensors = at::TensorOptions().dtype(at::kFloat);
  return text_encoder::UMT5Encoder(config, build);
}

dit::WanModel make_dit() {
  return dit::WanModel(dit::DitConfig::from_json(nlohmann::json::parse(dit_config().dump()), "training DiT config"));
}

}  // namespace soragen::train
