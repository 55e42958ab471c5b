// One request rendered on loaded components: text or image to video, and what
// Sora does with clips (video to video, extension forward and backward,
// connect, loops), each made as one or more windows of at most --window
// frames. Videos longer than a window are a first window and then forward
// extensions of what came before, --overlap frames of context each.
//
// Conditioning on a clip's frames uses each model's own mechanism where it
// has one, and latent replacement elsewhere (clip_plan.h says where the
// known latents go):
//  - TI2V DiTs (Wan2.2 TI2V-5B, the embedded default): the known latents are
//    held clean with timestep 0 on their tokens, the first-frame mask of its
//    image-to-video mode extended to the frames given;
//  - the other DiTs: latent replacement, the known latents put back noised
//    to the sampler's sigma after every step;
//  - I2V-A14B besides: the window's first frame (and for connect its last)
//    is the image of its y conditioning, as its image-to-video mode does.
// (Conditioning::known in conditioning.h.)
#pragma once

#include <ATen/ATen.h>

#include <atomic>
#include <functional>

#include "pipeline/video_generator.h"
#include "soragen/log.h"
#include "soragen/options.h"
#include "soragen/pipeline.h"
#include "soragen/video.h"
#include "vae/tiling.h"

namespace soragen::pipeline {

// Reports (stage, step, total, window, windows); step 0 begins a stage.
using WindowReport = std::function<void(Stage stage, int step, int total, int window, int windows)>;

struct RenderSetup {
  VideoGenerator& generator;
  const ModelInputs& inputs;
  at::Tensor context;       // the prompt's, on the device
  at::Tensor context_null;  // the negative prompt's
  vae::TileOptions tiling;
  const Logger& logger;
  WindowReport report;
  const std::atomic<bool>* cancel = nullptr;
  // --preview: shows the denoised estimate of window `window` of `windows`
  // (DenoisedPreview); null: no preview.
  std::function<void(const at::Tensor& x0, int step, int total, int window, int windows)> preview;
};

// The request's video as 8-bit frames. The request must have passed
// check_resolved_for_model; a clip that fails to decode, or is too short to
// condition on, is a UsageError naming its flag and file.
VideoFrames render_request(const ResolvedRequest& request, RenderSetup& setup);

// Per-channel mean and standard deviation of a float video [3, T, H, W], the
// drift measure between windows.
struct ColourStats {
  double mean[3] = {0, 0, 0};
  double std[3] = {1, 1, 1};
};
ColourStats colour_stats(const at::Tensor& video);
// `video` shifted per channel so its mean becomes `target`'s.
at::Tensor match_colour(const at::Tensor& video, const ColourStats& from, const ColourStats& target);

}  // namespace soragen::pipeline
