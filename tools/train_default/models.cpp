#include "models.h"

#include "configs.h"

namespace soragen::train {

vae::WanVAE make_vae() {
  return vae::WanVAE(vae::VaeConfig::from_json(nlohmann::json::parse(vae_config().dump()), "training VAE config"));
}

text_encoder::UMT5Encoder make_text_encoder(int vocab) {
  const auto config = text_encoder::UMT5Config::from_json(nlohmann::json::parse(text_encoder_config(vocab).dump()),
                                                      "training text encoder config");
  text_encoder::UMT5BuildOptions build;
  build.tensors = at::TensorOptions().dtype(at::kFloat);
  return text_encoder::UMT5Encoder(config, build);
}

dit::WanModel make_dit() {
  return dit::WanModel(dit::DitConfig::from_json(nlohmann::json::parse(dit_config().dump()), "training DiT config"));
}

std::vector<at::Tensor> encode_contexts(text_encoder::UMT5Encoder& encoder,
                                        const std::vector<const tokenizer::Tokenized*>& prompts) {
  std::vector<int64_t> ids, mask;
  for (const tokenizer::Tokenized* t : prompts) {
    ids.insert(ids.end(), t->ids.begin(), t->ids.end());
    mask.insert(mask.end(), t->mask.begin(), t->mask.end());
  }
  const auto count = static_cast<int64_t>(prompts.size());
  const at::Tensor hidden =
      encoder->forward(at::tensor(ids, at::kLong).view({count, -1}), at::tensor(mask, at::kLong).view({count, -1}));
  std::vector<at::Tensor> contexts;
  for (int64_t b = 0; b < count; ++b) contexts.push_back(hidden[b].narrow(0, 0, prompts[static_cast<size_t>(b)]->length));
  return contexts;
}

}  // namespace soragen::train
