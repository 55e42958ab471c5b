// Where the frames of a clip operation go in the latent (extension forward
// and backward, connect, loops, long-video windows), as plain arithmetic on
// frame counts so that it is tested without a model.
//
// The causal video VAE maps pixel frames to latent frames as 1 + t*(F-1)
// (t = 4): latent 0 holds pixel frame 0 alone, latent j >= 1 holds pixel
// frames t*(j-1)+1 .. t*j. A context of c = 1 + t*(K-1) pixel frames is K
// latents when it starts a window (its frame 0 is latent 0), and its K-1
// groups after frame 0 when it ends one.
//
// One window is `head` known latents, `free` latents to generate, then `tail`
// known latents:
//   forward extension:  head = K (the clip's last c frames), tail = 0
//   backward extension: head = 0, tail = K-1 (the clip's frames 1..c-1)
//   connect A B / loop: head = K (A's last c frames), tail = K-1 (B's first)
// The new frames are the decoded window's frames between the two known
// parts; with a tail, the frame just before it stands for the clip's frame 0,
// which the clip itself supplies, so it is dropped.
#pragma once

#include <cstdint>

namespace soragen::pipeline {

struct WindowLayout {
  int64_t head = 0;  // known latents at the start
  int64_t free = 0;  // latents to generate
  int64_t tail = 0;  // known latents at the end

  int64_t latents() const { return head + free + tail; }
  // Pixel frames the window decodes to.
  int64_t frames(int64_t t) const { return 1 + t * (latents() - 1); }
  // The new frames: [first_new, first_new + new_frames) of the decoded window.
  int64_t first_new(int64_t t) const;
  int64_t new_frames(int64_t t) const;
};

// Latents that `frames` pixel frames (1 + t*k) make: 1 + (frames-1)/t.
int64_t latents_for(int64_t frames, int64_t t);

// Forward extension by `frames` new frames after a context of `context`
// frames: the window whose new part is the first multiple of t that holds
// them (the rest is trimmed off the end).
WindowLayout forward_window(int64_t context, int64_t frames, int64_t t);
// Backward extension by `frames` new frames before a context of `context`
// frames (context >= 1 + t): the extra new frames are trimmed off the start.
WindowLayout backward_window(int64_t context, int64_t frames, int64_t t);
// A transition of at least `frames` frames between two contexts of `context`
// frames (>= 1 + t). Its length is fixed by the grid: t*free - 1.
WindowLayout connect_window(int64_t context, int64_t frames, int64_t t);

}  // namespace soragen::pipeline
