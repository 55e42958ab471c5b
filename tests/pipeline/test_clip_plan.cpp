// Where a clip operation's frames go (clip_plan.h), computed by hand from the
// VAE's 1 + 4k frame grid, and the request checks that run before any weight
// loads (clip_request.h).
#include <gtest/gtest.h>

#include "pipeline/clip_plan.h"
#include "pipeline/clip_request.h"
#include "soragen/error.h"

namespace soragen::pipeline {
namespace {

TEST(ClipPlan, ForwardExtensionAddsMultiplesOfFourAfterTheContext) {
  // Context 5 frames = latents 0 (frame 0) and 1 (frames 1-4); 12 new frames
  // = 3 latents holding frames 5-16.
  const WindowLayout layout = forward_window(5, 12, 4);
  EXPECT_EQ(layout.head, 2);
  EXPECT_EQ(layout.free, 3);
  EXPECT_EQ(layout.tail, 0);
  EXPECT_EQ(layout.frames(4), 17);
  EXPECT_EQ(layout.first_new(4), 5);
  EXPECT_EQ(layout.new_frames(4), 12);
  // 10 new frames still take 3 latents; the last 2 are trimmed by the caller.
  EXPECT_EQ(forward_window(5, 10, 4).new_frames(4), 12);
  // One frame of context: latent 0 alone.
  EXPECT_EQ(forward_window(1, 8, 4).first_new(4), 1);
  EXPECT_EQ(forward_window(1, 8, 4).frames(4), 9);
}

TEST(ClipPlan, BackwardExtensionEndsOnTheContextsGroupsAndDropsTheStandIn) {
  // Context 5 frames: its groups after frame 0 (frames 1-4) are the last
  // latent; the frame before them stands for the clip's frame 0.
  const WindowLayout layout = backward_window(5, 8, 4);
  EXPECT_EQ(layout.head, 0);
  EXPECT_EQ(layout.tail, 1);
  EXPECT_EQ(layout.free, 3);  // frames 0..8, of which 8 is the stand-in
  EXPECT_EQ(layout.frames(4), 13);
  EXPECT_EQ(layout.first_new(4), 0);
  EXPECT_EQ(layout.new_frames(4), 8);
  EXPECT_GE(backward_window(5, 7, 4).new_frames(4), 7);
  EXPECT_THROW(backward_window(1, 8, 4), InternalError);  // no group to end on
}

TEST(ClipPlan, ConnectTransitionIsFourFreeLatentsLessOne) {
  // head: A's last 5 frames (latents 0-1); free: 2 latents (frames 5-12, of
  // which 12 stands for B's frame 0); tail: B's frames 1-4 (latent 4).
  const WindowLayout layout = connect_window(5, 6, 4);
  EXPECT_EQ(layout.head, 2);
  EXPECT_EQ(layout.free, 2);
  EXPECT_EQ(layout.tail, 1);
  EXPECT_EQ(layout.frames(4), 17);
  EXPECT_EQ(layout.first_new(4), 5);
  EXPECT_EQ(layout.new_frames(4), 7);
  EXPECT_EQ(connect_window(5, 7, 4).new_frames(4), 7);
  EXPECT_EQ(connect_window(5, 8, 4).new_frames(4), 11);
}

ModelInputs t2v_inputs() { return ModelInputs{}; }

ResolvedRequest request(int frames = 17, int window = 17) {
  ResolvedRequest r;
  r.prompt = "p";
  r.frames = frames;
  r.window = window;
  r.overlap = 5;
  r.width = 64;
  r.height = 64;
  return r;
}

std::string plan_error(const ResolvedRequest& r, const ModelInputs& inputs = t2v_inputs()) {
  try {
    plan_clip_request(r, inputs);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(ClipRequest, LongVideosCountTheirWindows) {
  EXPECT_EQ(plan_clip_request(request(17), t2v_inputs()).windows, 1);
  // 17-frame windows with 5 frames of context add 12 frames each.
  const ClipPlan plan = plan_clip_request(request(481), t2v_inputs());
  EXPECT_EQ(plan.mode, ClipMode::text);
  EXPECT_EQ(plan.new_per_window, 12);
  EXPECT_EQ(plan.windows, 1 + (481 - 17 + 11) / 12);
  ResolvedRequest extend = request(25);
  extend.extend = "a.mp4";
  EXPECT_EQ(plan_clip_request(extend, t2v_inputs()).windows, 3);
  EXPECT_EQ(plan_clip_request(extend, t2v_inputs()).mode, ClipMode::extend_forward);
  extend.backward = true;
  EXPECT_EQ(plan_clip_request(extend, t2v_inputs()).mode, ClipMode::extend_backward);
  ResolvedRequest loop = request(17);
  loop.loop = true;
  const ClipPlan looped = plan_clip_request(loop, t2v_inputs());
  EXPECT_EQ(looped.windows, 2);
  EXPECT_EQ(looped.loop_transition, 7);
}

TEST(ClipRequest, CombinationsThatCannotRenderAreNamed) {
  ResolvedRequest r = request();
  r.video = "a.mp4";
  r.extend = "b.mp4";
  EXPECT_EQ(plan_error(r), "--video and --extend: give one of --video, --extend, --connect and --loop");
  r = request();
  r.backward = true;
  EXPECT_EQ(plan_error(r), "--backward: needs --extend FILE (the clip to go back from)");
  r = request();
  r.image = "i.png";
  r.connect = {"a.mp4", "b.mp4"};
  EXPECT_EQ(plan_error(r), "--image 'i.png' and --connect: the clip gives the frames; drop --image");
  r = request(17, 9);
  r.overlap = 9;
  EXPECT_EQ(plan_error(r), "--overlap 9: must be shorter than --window 9 by 4 frames or more");
  r = request();
  r.extend = "a.mp4";
  r.backward = true;
  r.overlap = 1;
  EXPECT_EQ(plan_error(r), "--overlap 1: --extend --backward needs 5 frames of context or more");
  r = request(41, 17);
  r.connect = {"a.mp4", "b.mp4"};
  EXPECT_NE(plan_error(r).find("--frames 41: a transition of 43 frames"), std::string::npos) << plan_error(r);
  r = request(33, 17);
  r.video = "a.mp4";
  EXPECT_EQ(plan_error(r), "--frames 33: video to video re-renders up to --window 17 frames");
  ModelInputs i2v;
  i2v.kind = "i2v";
  i2v.needs_image = true;
  r = request();
  r.extend = "a.mp4";
  r.backward = true;
  EXPECT_NE(plan_error(r, i2v).find("--backward: this i2v model renders from a first frame"), std::string::npos);
  r.backward = false;
  EXPECT_EQ(plan_error(r, i2v), "<no error>");  // forward: the clip's frame is the image
}

TEST(ClipRequest, ShortClipsAreNamed) {
  EXPECT_NO_THROW(check_clip_length(5, 5, "--extend", "a.mp4"));
  try {
    check_clip_length(3, 5, "--extend", "a.mp4");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "--extend 'a.mp4': 3 frames, too short to condition on: --overlap 5 needs 5 frames");
  }
}

}  // namespace
}  // namespace soragen::pipeline
