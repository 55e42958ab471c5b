// The golden pipeline's tiny models and inputs, ready for
// VideoGenerator::denoise: the denoising-loop tests share them.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <stdexcept>

#include "golden_components.h"
#include "golden_util.h"
#include "pipeline/video_generator.h"

namespace soragen::test {

struct Loop {
  std::unique_ptr<pipeline::VideoGenerator> t2v;
  at::Tensor noise, context, context_null;
  pipeline::SamplingSettings settings;
};

// On `device`, with `steps` UniPC steps (the sampler with the most host-side
// maths) and the golden file's shift and guidance.
inline Loop golden_loop(const c10::Device& device, int steps) {
  const auto files = golden_files("pipeline");
  if (files.empty()) throw std::runtime_error("no pipeline*.safetensors in " + golden_dir().string());
  const GoldenFile golden(files.front());
  Loop loop;
  loop.t2v = components_from_golden(golden.config(), device);
  loop.context = loop.t2v->encode(golden.tensor("input.prompt_ids"), golden.tensor("input.prompt_mask"));
  loop.context_null = loop.t2v->encode(golden.tensor("input.negative_ids"), golden.tensor("input.negative_mask"));
  loop.noise = golden.tensor("input.noise").to(device);
  loop.settings.sampler = "unipc";
  loop.settings.steps = steps;
  loop.settings.shift = golden.config().at("shift").get<double>();
  loop.settings.guidance = golden.config().at("guide_scale").get<double>();
  return loop;
}

}  // namespace soragen::test
