#include "checkpoint.h"

#include <torch/serialize.h>

#include <algorithm>
#include <fstream>
#include <stdexcept>

#include "io/safetensors_writer.h"
#include "io/tensor_source.h"

namespace fs = std::filesystem;

namespace soragen::train {

std::map<std::string, at::Tensor> module_tensors(const torch::nn::Module& module) {
  std::map<std::string, at::Tensor> out;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) out[item.key()] = item.value().detach().clone();
  return out;
}

void load_module_tensors(torch::nn::Module& module, const fs::path& path) {
  const auto source = io::open_weights(path);
  const torch::NoGradGuard no_grad;
  for (auto& item : module.named_parameters(/*recurse=*/true)) {
    const at::Tensor value = source->load(item.key());
    if (!value.sizes().equals(item.value().sizes())) {
      throw std::runtime_error(path.string() + ": " + item.key() + " has another shape than the model");
    }
    item.value().copy_(value);
  }
}

void save_optimizer(torch::optim::Optimizer& optimizer, const fs::path& path) {
  const fs::path temp = path.string() + ".tmp";
  torch::save(optimizer, temp.string());
  fs::rename(temp, path);
}

void load_optimizer(torch::optim::Optimizer& optimizer, const fs::path& path) { torch::load(optimizer, path.string()); }

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  return nlohmann::json::parse(in);
}

void write_json(const fs::path& path, const nlohmann::json& value) {
  const fs::path temp = path.string() + ".tmp";
  {
    std::ofstream out(temp);
    out << value.dump(1) << "\n";
    if (!out) throw std::runtime_error("cannot write " + temp.string());
  }
  fs::rename(temp, path);
}

Ema::Ema(const torch::nn::Module& module, double decay) : decay_(decay), shadow_(module_tensors(module)) {}

void Ema::update(const torch::nn::Module& module, int64_t step) {
  const torch::NoGradGuard no_grad;
  const double decay = std::min(decay_, static_cast<double>(1 + step) / static_cast<double>(10 + step));
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    shadow_.at(item.key()).mul_(decay).add_(item.value().detach(), 1.0 - decay);
  }
}

void Ema::copy_to(torch::nn::Module& module) const {
  const torch::NoGradGuard no_grad;
  for (auto& item : module.named_parameters(/*recurse=*/true)) item.value().copy_(shadow_.at(item.key()));
}

void Ema::load(const fs::path& path) {
  const auto source = io::open_weights(path);
  for (auto& [name, value] : shadow_) value.copy_(source->load(name));
}

}  // namespace soragen::train
