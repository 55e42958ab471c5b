// What a resolved request asks of clips (the mode, the windows a long video
// takes, the context each window sees), and the checks that need no weights:
// plan_clip_request runs before any model loads (check_resolved_for_model)
// and again when the render starts.
#pragma once

#include <cstdint>
#include <string>

#include "soragen/options.h"
#include "soragen/pipeline.h"
#include "soragen/video.h"

namespace soragen::pipeline {

enum class ClipMode { text, video_to_video, extend_forward, extend_backward, connect, loop };

struct ClipPlan {
  ClipMode mode = ClipMode::text;
  int64_t temporal = 4;         // the VAE's frames per latent after the first
  int64_t window = 81;          // --window
  int64_t context = 5;          // --overlap
  int64_t new_per_window = 64;  // frames one extension window adds at most
  int64_t loop_transition = 7;  // --loop: the transition back into frame 0
  int64_t windows = 1;          // windows the render takes
};

// Throws UsageError naming the flags for a combination that cannot render:
// two clip modes at once, --strength or --backward alone, --image with a
// clip, an --overlap that leaves no room in --window, a transition that does
// not fit it, backward extension on I2V-A14B.
ClipPlan plan_clip_request(const ResolvedRequest& request, const ModelInputs& inputs);

// A clip of `frames` frames must hold the `context` frames a window
// conditions on; UsageError "<flag> '<path>': ..." otherwise.
void check_clip_length(int64_t frames, int64_t context, const std::string& flag, const std::string& path);

}  // namespace soragen::pipeline
