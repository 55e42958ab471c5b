#include "scene.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace soragen::world {

const std::vector<Colour>& palette() {
  // Saturated, well separated in RGB so that a colour is recognisable after
  // the VAE's round trip; the detector classifies by nearest entry.
  static const std::vector<Colour> colours = {
      {"red", 220, 30, 30},     {"green", 30, 170, 60},   {"blue", 40, 70, 225},   {"yellow", 245, 220, 40},
      {"orange", 250, 135, 20}, {"purple", 140, 50, 180}, {"white", 245, 245, 245}, {"black", 15, 15, 15},
  };
  return colours;
}

int colour_index(const std::string& name) {
  const auto& colours = palette();
  for (size_t i = 0; i < colours.size(); ++i) {
    if (name == colours[i].name) return static_cast<int>(i);
  }
  return -1;
}

const char* shape_name(Shape shape) {
  switch (shape) {
    case Shape::circle: return "circle";
    case Shape::square: return "square";
    case Shape::triangle: return "triangle";
  }
  return "?";
}

const char* size_name(Size size) { return size == Size::small ? "small" : "large"; }

const char* direction_name(Direction direction) {
  switch (direction) {
    case Direction::left: return "left";
    case Direction::right: return "right";
    case Direction::up: return "up";
    case Direction::down: return "down";
  }
  return "?";
}

float radius_fraction(Size size) { return size == Size::small ? 0.10f : 0.17f; }

const std::vector<HeldOut>& held_out_triples() {
  // One per colour, every shape and direction represented at least twice.
  static const std::vector<HeldOut> triples = {
      {0, Shape::square, Direction::down},   {1, Shape::triangle, Direction::left},
      {2, Shape::circle, Direction::up},     {3, Shape::square, Direction::up},
      {4, Shape::triangle, Direction::right}, {5, Shape::circle, Direction::down},
      {6, Shape::square, Direction::left},   {7, Shape::triangle, Direction::right},
  };
  return triples;
}

bool is_held_out(const Scene& scene) {
  for (const HeldOut& h : held_out_triples()) {
    if (h.colour == scene.colour && h.shape == scene.shape && h.direction == scene.direction) return true;
  }
  return false;
}

namespace {

template <typename T>
T pick(std::mt19937_64& rng, int count) {
  return static_cast<T>(std::uniform_int_distribution<int>(0, count - 1)(rng));
}

float uniform(std::mt19937_64& rng, float lo, float hi) {
  return std::uniform_real_distribution<float>(lo, hi)(rng);
}

}  // namespace

Scene random_scene(std::mt19937_64& rng, Split split) {
  const int colours = static_cast<int>(palette().size());
  Scene scene;
  for (;;) {
    scene.colour = pick<int>(rng, colours);
    scene.shape = pick<Shape>(rng, kShapes);
    scene.direction = pick<Direction>(rng, kDirections);
    const bool held = is_held_out(scene);
    if (split == Split::any || (split == Split::held_out) == held) break;
  }
  scene.size = pick<Size>(rng, kSizes);
  do {
    scene.background = pick<int>(rng, colours);
  } while (scene.background == scene.colour);
  scene.gradient = uniform(rng, 0.f, 1.f) < 0.25f;

  // The object stays fully inside the frame: margin = radius + 1 pixel at 64.
  const float margin = radius_fraction(scene.size) * 1.2f + 1.f / 64.f;
  scene.travel = uniform(rng, 0.35f, 0.5f);
  const float span = 1.f - 2.f * margin;  // room for the centre
  const float travel = std::min(scene.travel, span);
  scene.travel = travel;
  const float along = uniform(rng, margin, margin + span - travel);  // start along the motion axis
  const float across = uniform(rng, margin, 1.f - margin);
  switch (scene.direction) {
    case Direction::right: scene.start_x = along; scene.start_y = across; break;
    case Direction::left: scene.start_x = 1.f - along; scene.start_y = across; break;
    case Direction::down: scene.start_x = across; scene.start_y = along; break;
    case Direction::up: scene.start_x = across; scene.start_y = 1.f - along; break;
  }
  return scene;
}

namespace {

// A displacement of `length` in the direction's sense (y grows downwards).
Point along(Direction direction, float length) {
  switch (direction) {
    case Direction::left: return {-length, 0.f};
    case Direction::right: return {length, 0.f};
    case Direction::up: return {0.f, -length};
    case Direction::down: return {0.f, length};
  }
  return {0.f, 0.f};
}

// Whether the centre stays within `margin` of the frame's edges at every
// frame of a clip (checked finely enough for any frame count used).
bool stays_inside(const Scene& scene, float margin) {
  constexpr int kChecks = 64;
  for (int i = 0; i <= kChecks; ++i) {
    const Point p = centre_at(scene, static_cast<float>(i) / kChecks);
    if (p.x < margin || p.x > 1.f - margin || p.y < margin || p.y > 1.f - margin) return false;
  }
  return true;
}

}  // namespace

Scene random_transition(std::mt19937_64& rng, double curved) {
  Scene scene = random_scene(rng, Split::train);
  scene.transition = true;
  const float margin = radius_fraction(scene.size) * 1.2f + 1.f / 64.f;
  scene.curved = curved > 0 && std::uniform_real_distribution<double>(0, 1)(rng) < curved;
  if (!scene.curved) {
    do {
      scene.start_x = uniform(rng, margin, 1.f - margin);
      scene.start_y = uniform(rng, margin, 1.f - margin);
      scene.end_x = uniform(rng, margin, 1.f - margin);
      scene.end_y = uniform(rng, margin, 1.f - margin);
    } while (std::hypot(scene.end_x - scene.start_x, scene.end_y - scene.start_y) < 0.2f);
    return scene;
  }
  do {
    const Point v0 = along(pick<Direction>(rng, kDirections), uniform(rng, 0.35f, 0.5f));
    const Point v1 = along(pick<Direction>(rng, kDirections), uniform(rng, 0.35f, 0.5f));
    scene.start_vx = v0.x;
    scene.start_vy = v0.y;
    scene.end_vx = v1.x;
    scene.end_vy = v1.y;
    scene.start_x = uniform(rng, margin, 1.f - margin);
    scene.start_y = uniform(rng, margin, 1.f - margin);
    scene.end_x = uniform(rng, margin, 1.f - margin);
    scene.end_y = uniform(rng, margin, 1.f - margin);
  } while (!stays_inside(scene, margin));
  return scene;
}

Point centre_at(const Scene& scene, float progress) {
  const float s = progress;
  if (scene.transition && scene.curved) {
    // Cubic Hermite basis: positions at s = 0 and 1, tangents there.
    const float s2 = s * s, s3 = s2 * s;
    const float h00 = 2 * s3 - 3 * s2 + 1, h10 = s3 - 2 * s2 + s, h01 = -2 * s3 + 3 * s2, h11 = s3 - s2;
    return {h00 * scene.start_x + h10 * scene.start_vx + h01 * scene.end_x + h11 * scene.end_vx,
            h00 * scene.start_y + h10 * scene.start_vy + h01 * scene.end_y + h11 * scene.end_vy};
  }
  if (scene.transition) {
    return {scene.start_x + (scene.end_x - scene.start_x) * s, scene.start_y + (scene.end_y - scene.start_y) * s};
  }
  const Point d = along(scene.direction, scene.travel);
  return {scene.start_x + d.x * s, scene.start_y + d.y * s};
}

}  // namespace soragen::world
