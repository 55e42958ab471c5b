// The procedural world the embedded default model is trained on: one simple
// object (circle, square or triangle) in a named colour and one of two
// sizes, moving in a straight line over a plain or gradient background of
// another named colour. Everything here is plain data, free of torch, so the
// renderer, the prompt writer and the detector agree on one definition.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace soragen::world {

struct Colour {
  const char* name;
  std::uint8_t r, g, b;
};

// The named colours, in a fixed order (indices are stable: they are used in
// data files and reports).
const std::vector<Colour>& palette();
// Index in palette() of `name`, or -1.
int colour_index(const std::string& name);

enum class Shape { circle, square, triangle };
enum class Size { small, large };
enum class Direction { left, right, up, down };

constexpr int kShapes = 3;
constexpr int kSizes = 2;
constexpr int kDirections = 4;

const char* shape_name(Shape shape);
const char* size_name(Size size);
const char* direction_name(Direction direction);

struct Scene {
  int colour = 0;       // palette index of the object
  Shape shape = Shape::circle;
  Size size = Size::small;
  Direction direction = Direction::right;
  int background = 2;   // palette index, never equal to colour
  bool gradient = false;  // background lighter at the top, darker at the bottom
  // Where the object's centre starts and how far it travels over the clip,
  // as fractions of the frame (so one scene renders at any resolution).
  float start_x = 0.5f;
  float start_y = 0.5f;
  float travel = 0.45f;
  // A transition (what --connect and --loop ask the model for): the centre
  // moves in a straight line from start to (end_x, end_y) whatever
  // `direction` says, and `travel` is unused. `direction` is still what the
  // prompt says, so the model learns that frames known at both ends of a
  // window decide the path.
  bool transition = false;
  float end_x = 0.5f;
  float end_y = 0.5f;
  // A curved transition: the centre follows the cubic Hermite curve from
  // start to end whose tangents (displacement per clip, fractions of the
  // frame) are these at the two ends. A loop's or a connect's ends move the
  // way their clips move, often away from the path's target (a loop of
  // rightward motion starts at the right, moving right, and must end at the
  // left, moving right); a straight transition never shows that.
  bool curved = false;
  float start_vx = 0.f;
  float start_vy = 0.f;
  float end_vx = 0.f;
  float end_vy = 0.f;
};

// The object's centre at `progress` (0 at the first frame, 1 at the last)
// of the clip, as fractions of the frame.
struct Point {
  float x;
  float y;
};
Point centre_at(const Scene& scene, float progress);

// Object radius as a fraction of the frame width.
float radius_fraction(Size size);

// colour + shape + direction triples that never appear in training; the
// evaluation measures how the model generalises to them.
struct HeldOut {
  int colour;
  Shape shape;
  Direction direction;
};
const std::vector<HeldOut>& held_out_triples();
bool is_held_out(const Scene& scene);

enum class Split { train, held_out, any };

// A random scene whose start and travel keep the object inside the frame for
// the whole clip. `split` restricts the colour+shape+direction triple.
Scene random_scene(std::mt19937_64& rng, Split split);
// A random training scene made a transition between two random points that
// keep the object inside the frame. A share `curved` of them (drawn only
// when it is above 0, so 0 draws what the shipped default trained on) are
// curved: they start and end with motion in any of the world's directions at
// a plain clip's speed, the whole path inside the frame; the others are
// straight, their ends at least a fifth of the frame apart.
Scene random_transition(std::mt19937_64& rng, double curved = 0);

}  // namespace soragen::world
