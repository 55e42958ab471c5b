// Draws a Scene as video frames: the object's centre moves as centre_at says
// (linearly from its start by `travel` over the clip, or a transition's
// path); edges are anti-aliased by 4x4 supersampling
// so that the VAE learns smooth shapes, not jagged ones.
#pragma once

#include "scene.h"
#include "soragen/video.h"

namespace soragen::world {

// RGB of the background at row y (gradient backgrounds shade vertically).
Colour background_at(const Scene& scene, float y_fraction);

VideoFrames render(const Scene& scene, int frames, int width, int height);

}  // namespace soragen::world
