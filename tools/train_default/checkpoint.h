// Resumable training state in a work directory: each module's weights as
// safetensors under their checkpoint names (so the export is a copy), the
// optimizer's moments, and a JSON with the step reached and the loss log.
// Everything is written to a temporary name and renamed, so a run killed
// mid-save resumes from the previous checkpoint.
#pragma once

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <filesystem>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace soragen::train {

std::map<std::string, at::Tensor> module_tensors(const torch::nn::Module& module);
void load_module_tensors(torch::nn::Module& module, const std::filesystem::path& path);

void save_optimizer(torch::optim::Optimizer& optimizer, const std::filesystem::path& path);
void load_optimizer(torch::optim::Optimizer& optimizer, const std::filesystem::path& path);

nlohmann::json read_json(const std::filesystem::path& path);
void write_json(const std::filesystem::path& path, const nlohmann::json& value);

// Exponential moving average of a module's parameters (what gets exported:
// it samples better than the last step's weights). The decay warms up as
// min(decay, (1 + step) / (10 + step)): a fixed 0.999 from step 0 would still
// hold 0.999^2000 = 13.5% of the random initial weights after a 2000-step run.
class Ema {
 public:
  Ema(const torch::nn::Module& module, double decay);
  // `step` is the optimizer step just taken (0-based), so a resumed run
  // continues the same decay schedule.
  void update(const torch::nn::Module& module, int64_t step);
  // Copies the averaged values into `module`.
  void copy_to(torch::nn::Module& module) const;
  std::map<std::string, at::Tensor> tensors() const { return shadow_; }
  void load(const std::filesystem::path& path);

 private:
  double decay_;
  std::map<std::string, at::Tensor> shadow_;
};

}  // namespace soragen::train
