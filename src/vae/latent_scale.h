// The per-channel latent normalisation both VAE wrappers apply (WanVAE and
// Wan2_2_VAE keep `scale = [mean, 1/std]`): encode returns
// (mu - mean) * (1/std), decode takes z / (1/std) + mean. 1/std is formed
// once in float32, as the reference does, so decode divides by the rounded
// reciprocal rather than multiplying by std (golden README, trap 20;
// Wan2.2 trap 8).
#pragma once

#include <ATen/ATen.h>

#include <vector>

namespace soragen::vae {

class LatentScale {
 public:
  LatentScale() = default;
  // mean and std: one value per latent channel (validated by the configs).
  LatentScale(const std::vector<float>& mean, const std::vector<float>& std);

  // mu, z: [B, C, F, h, w] with C = the number of values; any device and
  // floating dtype (the constants follow x's device, fp32 math promotes).
  at::Tensor normalize(const at::Tensor& mu) const;   // (mu - mean) * (1/std)
  at::Tensor denormalize(const at::Tensor& z) const;  // z / (1/std) + mean

  const at::Tensor& mean() const { return mean_; }
  const at::Tensor& inv_std() const { return inv_std_; }

 private:
  // Plain tensors, not module buffers: module->to(dtype) must leave them fp32.
  at::Tensor mean_;     // [C]
  at::Tensor inv_std_;  // [C], reciprocal(std) in fp32 as the reference's scale[1]
};

}  // namespace soragen::vae
