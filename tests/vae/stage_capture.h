// Collects a StageHook's per-chunk outputs for the VAE parity tests: the
// golden debug tensors are those chunks concatenated over time.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "vae/modules.h"

namespace soragen::vae::test {

class StageCapture {
 public:
  // prefix: the golden name of a stage is prefix + stage ("debug.enc." + "conv1").
  // renames: stage -> golden suffix where the two differ.
  explicit StageCapture(std::string prefix, std::map<std::string, std::string> renames = {})
      : prefix_(std::move(prefix)),
        renames_(std::move(renames)),
        hook_([this](const std::string& stage, const at::Tensor& x) { chunks_[stage].push_back(x.to(at::kFloat)); }) {}
  const StageHook* hook() const { return &hook_; }
  void collect(std::map<std::string, at::Tensor>& into) const {
    for (const auto& [stage, chunks] : chunks_) {
      const auto it = renames_.find(stage);
      into[prefix_ + (it == renames_.end() ? stage : it->second)] = at::cat(chunks, 2);
    }
  }

 private:
  std::string prefix_;
  std::map<std::string, std::string> renames_;
  std::map<std::string, std::vector<at::Tensor>> chunks_;
  StageHook hook_;
};

}  // namespace soragen::vae::test
