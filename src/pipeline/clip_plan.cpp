#include "pipeline/clip_plan.h"

#include "soragen/error.h"

namespace soragen::pipeline {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

void check_context(int64_t context, int64_t t, bool needs_group, const char* what) {
  if (context < 1 || (context - 1) % t != 0 || (needs_group && context < 1 + t)) {
    throw InternalError(std::string(what) + ": context of " + std::to_string(context) + " frames does not fit the " +
                        std::to_string(t) + "x grid");
  }
}

}  // namespace

int64_t latents_for(int64_t frames, int64_t t) { return 1 + (frames - 1) / t; }

int64_t WindowLayout::first_new(int64_t t) const {
  // After the head's pixel frames, or from frame 0 without a head.
  return head == 0 ? 0 : 1 + t * (head - 1);
}

int64_t WindowLayout::new_frames(int64_t t) const {
  // The free latents' pixel frames, less the stand-in for the clip's frame 0
  // when a tail follows.
  const int64_t last_free = head + free - 1;  // latent index
  const int64_t end = last_free == 0 ? 1 : t * last_free + 1;  // one past its last pixel frame
  return end - first_new(t) - (tail > 0 ? 1 : 0);
}

WindowLayout forward_window(int64_t context, int64_t frames, int64_t t) {
  check_context(context, t, false, "forward extension");
  return {latents_for(context, t), ceil_div(frames, t), 0};
}

WindowLayout backward_window(int64_t context, int64_t frames, int64_t t) {
  check_context(context, t, true, "backward extension");
  // t*(free-1) new frames: the free latents' 1 + t*(free-1) frames less the stand-in.
  return {0, ceil_div(frames, t) + 1, latents_for(context, t) - 1};
}

WindowLayout connect_window(int64_t context, int64_t frames, int64_t t) {
  check_context(context, t, true, "connect");
  return {latents_for(context, t), ceil_div(frames + 1, t), latents_for(context, t) - 1};
}

}  // namespace soragen::pipeline
