// The procedural world of the default model: the split keeps held-out triples
// out of training, prompts say what the scene shows, and the detector reads
// the world's own clips back exactly (so its verdicts on model renders can be
// trusted).
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "describe.h"
#include "detect.h"
#include "render.h"

namespace soragen::world {
namespace {

TEST(World, TrainingScenesNeverShowAHeldOutTriple) {
  std::mt19937_64 rng(1);
  int held = 0;
  for (int i = 0; i < 5000; ++i) {
    const Scene s = random_scene(rng, Split::train);
    EXPECT_FALSE(is_held_out(s));
    EXPECT_NE(s.colour, s.background);
    held += is_held_out(random_scene(rng, Split::held_out));
  }
  EXPECT_EQ(held, 5000);
}

TEST(World, EveryColourShapeAndDirectionIsHeldOutSomewhere) {
  std::set<int> colours, shapes, directions;
  for (const HeldOut& h : held_out_triples()) {
    colours.insert(h.colour);
    shapes.insert(static_cast<int>(h.shape));
    directions.insert(static_cast<int>(h.direction));
  }
  EXPECT_EQ(colours.size(), palette().size());
  EXPECT_EQ(shapes.size(), static_cast<size_t>(kShapes));
  EXPECT_EQ(directions.size(), static_cast<size_t>(kDirections));
}

TEST(World, PlainPromptNamesEveryAttribute) {
  Scene s;
  s.colour = colour_index("red");
  s.shape = Shape::circle;
  s.size = Size::small;
  s.direction = Direction::right;
  s.background = colour_index("blue");
  EXPECT_EQ(plain_prompt(s), "a small red circle moving to the right on a blue background");
  EXPECT_EQ(plain_prompt(s, false), "a small red circle moving right on a blue background");
  s.gradient = true;
  s.direction = Direction::up;
  EXPECT_EQ(plain_prompt(s), "a small red circle moving up on a blue gradient background");
  const std::vector<std::string> all = describe(s);
  EXPECT_GE(all.size(), 5u);
  for (const std::string& p : all) {
    EXPECT_NE(p.find("red"), std::string::npos) << p;
    EXPECT_NE(p.find("blue"), std::string::npos) << p;
  }
}

TEST(World, ObjectStaysInsideTheFrame) {
  std::mt19937_64 rng(2);
  for (int i = 0; i < 300; ++i) {
    const Scene s = random_scene(rng, Split::any);
    const float margin = radius_fraction(s.size) * 1.2f;
    const float end_x = s.start_x + (s.direction == Direction::right ? s.travel : s.direction == Direction::left ? -s.travel : 0);
    const float end_y = s.start_y + (s.direction == Direction::down ? s.travel : s.direction == Direction::up ? -s.travel : 0);
    for (float v : {s.start_x, s.start_y, end_x, end_y}) {
      EXPECT_GE(v, margin);
      EXPECT_LE(v, 1.f - margin);
    }
  }
}

// Curved transitions (what loops and connect runs need: ends that move away
// from the path's target) start and end where the scene says, leave and
// arrive along their tangents, and never leave the frame; straight ones keep
// their line.
TEST(World, TransitionsFollowTheirPathInsideTheFrame) {
  std::mt19937_64 rng(4);
  int curved = 0, turning = 0;
  for (int i = 0; i < 400; ++i) {
    const Scene s = random_transition(rng, 0.5);
    ASSERT_TRUE(s.transition);
    const Point first = centre_at(s, 0.f), last = centre_at(s, 1.f);
    EXPECT_NEAR(first.x, s.start_x, 1e-6f);
    EXPECT_NEAR(first.y, s.start_y, 1e-6f);
    EXPECT_NEAR(last.x, s.end_x, 1e-6f);
    EXPECT_NEAR(last.y, s.end_y, 1e-6f);
    const float margin = radius_fraction(s.size) * 1.2f;
    for (int f = 0; f <= 16; ++f) {
      const Point p = centre_at(s, static_cast<float>(f) / 16.f);
      EXPECT_GE(std::min(p.x, p.y), margin) << "transition " << i << " frame " << f;
      EXPECT_LE(std::max(p.x, p.y), 1.f - margin) << "transition " << i << " frame " << f;
    }
    const float h = 1e-3f;
    const Point early = centre_at(s, h), late = centre_at(s, 1.f - h);
    if (!s.curved) {
      // Straight: the midpoint is halfway.
      const Point mid = centre_at(s, 0.5f);
      EXPECT_NEAR(mid.x, 0.5f * (s.start_x + s.end_x), 1e-5f);
      EXPECT_NEAR(mid.y, 0.5f * (s.start_y + s.end_y), 1e-5f);
      continue;
    }
    ++curved;
    // The tangents at both ends are the scene's velocities.
    EXPECT_NEAR((early.x - first.x) / h, s.start_vx, 2e-2f);
    EXPECT_NEAR((early.y - first.y) / h, s.start_vy, 2e-2f);
    EXPECT_NEAR((last.x - late.x) / h, s.end_vx, 2e-2f);
    EXPECT_NEAR((last.y - late.y) / h, s.end_vy, 2e-2f);
    // Some start moving away from where they end, as a loop's ends do.
    const float towards = s.start_vx * (s.end_x - s.start_x) + s.start_vy * (s.end_y - s.start_y);
    turning += towards < 0;
  }
  EXPECT_GT(curved, 120);
  EXPECT_LT(curved, 280);
  EXPECT_GT(turning, 20);
  // Without a curved share the draws are the straight ones alone, as before
  // the option existed (the shipped default's transitions stage).
  std::mt19937_64 a(5), b(5);
  for (int i = 0; i < 50; ++i) {
    const Scene s = random_transition(a);
    EXPECT_FALSE(s.curved);
    EXPECT_EQ(s.end_x, random_transition(b, 0.0).end_x);
  }
}

TEST(World, DetectorReadsTheWorldsOwnClipsBack) {
  std::mt19937_64 rng(3);
  for (int i = 0; i < 150; ++i) {
    const Scene s = random_scene(rng, Split::any);
    const Detection d = detect(render(s, 17, 64, 64));
    SCOPED_TRACE(plain_prompt(s) + " -> " + describe_detection(d));
    EXPECT_EQ(d.background, s.background);
    EXPECT_EQ(d.colour, s.colour);
    ASSERT_TRUE(d.shape.has_value());
    EXPECT_EQ(*d.shape, s.shape);
    ASSERT_TRUE(d.direction.has_value());
    EXPECT_EQ(*d.direction, s.direction);
  }
}

TEST(World, DetectorSaysWhenNothingMoves) {
  Scene s;
  s.travel = 0;
  const Detection d = detect(render(s, 17, 64, 64));
  EXPECT_EQ(d.colour, s.colour);
  EXPECT_FALSE(d.direction.has_value());
  // A blank video has no object at all.
  VideoFrames blank(64, 64, 17);
  EXPECT_EQ(detect(blank).colour, -1);
}

}  // namespace
}  // namespace soragen::world
