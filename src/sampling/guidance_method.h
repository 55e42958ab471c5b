// --guidance-method: which combination of the conditional and unconditional
// predictions a denoising step uses, with its parameters, parsed from one
// string so that a batch item and the output's metadata carry it whole:
//   cfg                                      plain classifier-free guidance
//   cfg-zero-star                            CFG-Zero* (sampling/guidance.h)
//   apg[:eta=E,momentum=M,norm=R]            adaptive projected guidance
//   slg[:layers=9,start=0.1,end=0.9]         skip-layer guidance, Wan style:
//                                            the unconditional pass skips blocks
//   slg-sd35[:layers=7+8+9,scale=2.5,start=0.01,end=0.2]
//                                            skip-layer guidance, SD3.5 style:
//                                            a third, conditional pass skips blocks
#pragma once

#include <string>
#include <vector>

namespace soragen::sampling {

struct ApgSettings {
  double eta = 0.0;             // weight of the update's part parallel to the conditional prediction
  double momentum = -0.5;       // beta of the running average of the update (0: none)
  double norm_threshold = 0.0;  // cap r on the update's L2 norm over the whole sample (0: no cap)
};

struct SkipLayerSettings {
  std::vector<int> layers;  // DiT block indices to skip
  double scale = 0.0;       // slg-sd35's weight of (cond - cond with blocks skipped)
  double start = 0.0;       // the fractions of the steps it is active on: skips_layers_at
  double end = 1.0;
};

enum class GuidanceKind { cfg, cfg_zero_star, apg, slg, slg_sd35 };

struct GuidanceMethod {
  GuidanceKind kind = GuidanceKind::cfg;
  ApgSettings apg;
  SkipLayerSettings slg;

  // Whether skip-layer guidance changes step i (0-based) of `steps`: each
  // source's own rule. slg (Wan2GP's slg_start/slg_end):
  // int(start * steps) <= i < int(end * steps); slg-sd35 (Stability AI's
  // sd3_impls.py SkipLayerCFGDenoiser): start * steps < i < end * steps.
  bool skips_layers_at(int step, int steps) const;
};

// Parses the text above; an unknown method or key, a malformed number, a
// negative layer or start > end throws std::invalid_argument with a message
// that names the part.
GuidanceMethod parse_guidance_method(const std::string& text);

// The rule of the request field: "" when `text` parses, else the reason.
std::string guidance_method_error(const std::string& text);

}  // namespace soragen::sampling
