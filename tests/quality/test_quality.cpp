// The embedded default follows its prompts: renders at the model's defaults
// (frames, size, steps) are read back with the same detector soragen-eval
// uses, and the object's colour, the background and the direction of motion
// must be the ones asked for. One prompt is a held-out colour+shape+direction
// triple the model never saw in training.
#include <gtest/gtest.h>

#include "describe.h"
#include "detect.h"
#include "soragen/pipeline.h"

namespace soragen {
namespace {

struct Case {
  const char* prompt;
  const char* colour;
  const char* background;
  world::Direction direction;
  std::uint64_t seed;
};

class Quality : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pipeline_ = new Pipeline(Pipeline::load({"default"}, {"cpu", "fp32", 0}, Logger())); }
  static void TearDownTestSuite() {
    delete pipeline_;
    pipeline_ = nullptr;
  }

  static world::Detection render(const Case& c) {
    GenerationRequest request;
    request.prompt = c.prompt;
    request.seed = c.seed;
    return world::detect(pipeline_->generate(resolve_request(request, pipeline_->defaults()), nullptr));
  }

  static void expect_follows(const Case& c) {
    const world::Detection d = render(c);
    SCOPED_TRACE(std::string(c.prompt) + " -> " + world::describe_detection(d));
    ASSERT_GE(d.colour, 0) << "no object found";
    EXPECT_STREQ(world::palette()[d.colour].name, c.colour);
    EXPECT_STREQ(world::palette()[d.background].name, c.background);
    ASSERT_TRUE(d.direction.has_value()) << "the object did not move";
    EXPECT_EQ(*d.direction, c.direction);
  }

  static Pipeline* pipeline_;
};

Pipeline* Quality::pipeline_ = nullptr;

TEST_F(Quality, RedCircleMovesRightOnBlue) {
  expect_follows({"a small red circle moving to the right on a blue background", "red", "blue",
                  world::Direction::right, 1});
}

TEST_F(Quality, YellowSquareMovesDownOnPurple) {
  expect_follows({"a large yellow square moving down on a purple background", "yellow", "purple",
                  world::Direction::down, 2});
}

TEST_F(Quality, HeldOutGreenTriangleMovesLeftOnWhite) {
  // green + triangle + left is held out of training (world::held_out_triples).
  world::Scene scene;
  scene.colour = world::colour_index("green");
  scene.shape = world::Shape::triangle;
  scene.direction = world::Direction::left;
  ASSERT_TRUE(world::is_held_out(scene));
  expect_follows({"a large green triangle moving to the left on a white background", "green", "white",
                  world::Direction::left, 3});
}

}  // namespace
}  // namespace soragen
