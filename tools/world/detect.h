// Reads a rendered video back into scene attributes: the background colour
// (from the frame borders), the object (pixels far from the background), its
// colour, a rough shape from how much of its bounding box it fills, and the
// direction of its centroid's path. Used by the evaluation tool and the
// quality test on the model's renders, and checked on the world's own clips.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "scene.h"
#include "soragen/video.h"

namespace soragen::world {

struct Detection {
  int background = -1;                  // palette index
  int colour = -1;                      // palette index of the object, -1 when none was found
  std::optional<Shape> shape;           // none when the object was too small to tell
  std::optional<Direction> direction;   // none when it did not move
  float fill = 0;                       // object area / bounding box area (median over frames)
  float moved = 0;                      // centroid displacement first -> last frame, in pixels
  int object_frames = 0;                // frames where an object was found
  // The object's centroid in each frame, in pixels; none where it was not found.
  struct Point {
    float x = 0;
    float y = 0;
  };
  std::vector<std::optional<Point>> path;
};

Detection detect(const VideoFrames& video);

// "background blue, object red circle moving right" for logs.
std::string describe_detection(const Detection& d);

}  // namespace soragen::world
