// The procedural world of the default model: the split keeps held-out triples
// out of training, prompts say what the scene shows, and the detector reads
// the world's own clips back exactly (so its verdicts on model renders can be
// trusted).
#include <gtest/gtest.h>

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
