#include "bench_common/random_weights.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <string>

namespace soragen::bench {
namespace {

bool ends_with(const std::string& text, const std::string& tail) {
  return text.size() >= tail.size() && text.compare(text.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

void fill_random_weights(const torch::nn::Module& module, std::uint64_t seed) {
  const torch::NoGradGuard no_grad;
  // A CPU generator of our own; on CUDA the device's default generator,
  // seeded here (at::manual_seed seeds every device's).
  at::Generator cpu_generator = at::detail::createCPUGenerator(seed);
  at::manual_seed(seed);
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    const std::string& name = item.key();
    const at::Tensor& p = item.value();
    if (p.dim() <= 1) {
      const bool is_scale = name.find("norm") != std::string::npos && ends_with(name, ".weight");
      p.fill_(is_scale ? 1.0 : 0.0);
      continue;
    }
    const double fan_in = static_cast<double>(p.numel() / p.size(0));
    const double stdev = name.find("modulation") != std::string::npos ? 0.02 : 1.0 / std::sqrt(std::max(1.0, fan_in));
    if (p.is_cpu()) {
      p.copy_(at::randn(p.sizes(), cpu_generator, at::TensorOptions().dtype(at::kFloat)).mul_(stdev));
    } else {
      p.normal_(0.0, stdev);
    }
  }
}

}  // namespace soragen::bench
