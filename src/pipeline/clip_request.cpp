#include "pipeline/clip_request.h"

#include <vector>

#include "pipeline/clip_plan.h"
#include "soragen/error.h"

namespace soragen::pipeline {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

std::string frames_text(int64_t frames) { return std::to_string(frames) + (frames == 1 ? " frame" : " frames"); }

}  // namespace

ClipPlan plan_clip_request(const ResolvedRequest& r, const ModelInputs& inputs) {
  ClipPlan plan;
  plan.temporal = inputs.vae_temporal;
  plan.window = r.window;
  plan.context = r.overlap;
  const int64_t t = plan.temporal;

  std::vector<std::string> modes;
  if (!r.video.empty()) modes.push_back("--video");
  if (!r.extend.empty()) modes.push_back("--extend");
  if (!r.connect.empty()) modes.push_back("--connect");
  if (r.loop) modes.push_back("--loop");
  if (modes.size() > 1) {
    throw UsageError(modes[0] + " and " + modes[1] + ": give one of --video, --extend, --connect and --loop");
  }
  if (r.backward && r.extend.empty()) throw UsageError("--backward: needs --extend FILE (the clip to go back from)");
  if (!r.image.empty() && !modes.empty() && modes[0] != "--loop") {
    throw UsageError("--image '" + r.image + "' and " + modes[0] + ": the clip gives the frames; drop --image");
  }
  if (!r.video.empty()) plan.mode = ClipMode::video_to_video;
  if (!r.extend.empty()) plan.mode = r.backward ? ClipMode::extend_backward : ClipMode::extend_forward;
  if (!r.connect.empty()) plan.mode = ClipMode::connect;
  if (r.loop) plan.mode = ClipMode::loop;

  const int64_t window_latents = latents_for(plan.window, t);
  const int64_t context_latents = latents_for(plan.context, t);
  if (context_latents >= window_latents) {
    throw UsageError("--overlap " + std::to_string(plan.context) + ": must be shorter than --window " +
                     std::to_string(plan.window) + " by 4 frames or more");
  }
  plan.new_per_window = t * (window_latents - context_latents);
  const bool two_sided = plan.mode == ClipMode::extend_backward || plan.mode == ClipMode::connect ||
                         plan.mode == ClipMode::loop;
  if (two_sided && plan.context < 1 + t) {
    throw UsageError("--overlap " + std::to_string(plan.context) + ": " + (modes.empty() ? "" : modes[0]) +
                     (r.backward ? " --backward" : "") + " needs " + std::to_string(1 + t) +
                     " frames of context or more");
  }
  if (plan.mode == ClipMode::extend_backward && inputs.needs_image) {
    throw UsageError("--backward: this i2v model renders from a first frame, which backward extension does not "
                     "have; use a text-to-video or TI2V model");
  }
  if (plan.mode == ClipMode::loop) plan.loop_transition = t * context_latents - 1;
  const int64_t transition = plan.mode == ClipMode::connect ? r.frames : plan.loop_transition;
  if (plan.mode == ClipMode::connect || plan.mode == ClipMode::loop) {
    const WindowLayout layout = connect_window(plan.context, transition, t);
    if (layout.latents() > window_latents) {
      throw UsageError(std::string(plan.mode == ClipMode::connect ? "--frames " + std::to_string(r.frames)
                                                                  : std::string("--loop")) +
                       ": a transition of " + frames_text(layout.new_frames(t)) + " between two --overlap " +
                       std::to_string(plan.context) + " contexts takes " +
                       frames_text(layout.frames(t)) + ", more than --window " + std::to_string(plan.window));
    }
  }
  if (plan.mode == ClipMode::video_to_video && r.frames > plan.window) {
    throw UsageError("--frames " + std::to_string(r.frames) + ": video to video re-renders up to --window " +
                     std::to_string(plan.window) + " frames");
  }
  const bool long_video = (plan.mode == ClipMode::text || plan.mode == ClipMode::loop) && r.frames > plan.window;
  if (long_video && !r.last_image.empty()) {
    throw UsageError("--last-image '" + r.last_image + "': a video longer than --window " +
                     std::to_string(plan.window) + " frames has no one last frame to hold");
  }

  switch (plan.mode) {
    case ClipMode::text:
    case ClipMode::loop:
      plan.windows = r.frames <= plan.window ? 1 : 1 + ceil_div(r.frames - plan.window, plan.new_per_window);
      if (plan.mode == ClipMode::loop) ++plan.windows;
      break;
    case ClipMode::extend_forward:
    case ClipMode::extend_backward:
      plan.windows = ceil_div(r.frames, plan.new_per_window);
      break;
    case ClipMode::video_to_video:
    case ClipMode::connect:
      plan.windows = 1;
      break;
  }
  return plan;
}

void check_clip_length(int64_t frames, int64_t context, const std::string& flag, const std::string& path) {
  if (frames >= context) return;
  throw UsageError(flag + " '" + path + "': " + frames_text(frames) + ", too short to condition on: --overlap " +
                   std::to_string(context) + " needs " + frames_text(context));
}

}  // namespace soragen::pipeline
