#include "vae/latent_scale.h"

namespace soragen::vae {
namespace {

// [C] -> [1, C, 1, 1, 1] on x's device, for per-channel latent constants.
at::Tensor per_channel(const at::Tensor& values, const at::Tensor& like) {
  return values.to(like.device()).view({1, -1, 1, 1, 1});
}

}  // namespace

LatentScale::LatentScale(const std::vector<float>& mean, const std::vector<float>& std)
    : mean_(at::tensor(mean, at::kFloat)),
      // torch's `1.0 / std` is reciprocal(std) in fp32; decode divides by it again.
      inv_std_(at::reciprocal(at::tensor(std, at::kFloat))) {}

at::Tensor LatentScale::normalize(const at::Tensor& mu) const {
  return (mu - per_channel(mean_, mu)) * per_channel(inv_std_, mu);
}

at::Tensor LatentScale::denormalize(const at::Tensor& z) const {
  return z / per_channel(inv_std_, z) + per_channel(mean_, z);
}

}  // namespace soragen::vae
