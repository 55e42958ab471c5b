#include "describe.h"

namespace soragen::world {
namespace {

std::string direction_words(Direction d, bool to_the) {
  switch (d) {
    case Direction::left: return to_the ? "to the left" : "left";
    case Direction::right: return to_the ? "to the right" : "right";
    case Direction::up: return to_the ? "upward" : "up";
    case Direction::down: return to_the ? "downward" : "down";
  }
  return "";
}

// Everyday names for the shapes ("red ball slides right").
std::string shape_synonym(Shape shape) {
  switch (shape) {
    case Shape::circle: return "ball";
    case Shape::square: return "box";
    case Shape::triangle: return "triangle";
  }
  return "";
}

std::string background_words(const Scene& s, const char* noun) {
  return std::string(palette()[s.background].name) + (s.gradient ? " gradient " : " ") + noun;
}

}  // namespace

std::string plain_prompt(const Scene& s, bool to_the) {
  const bool horizontal = s.direction == Direction::left || s.direction == Direction::right;
  return std::string("a ") + size_name(s.size) + " " + palette()[s.colour].name + " " + shape_name(s.shape) +
         " moving " + direction_words(s.direction, to_the && horizontal) + " on a " +
         background_words(s, "background");
}

std::vector<std::string> describe(const Scene& s) {
  const std::string colour = palette()[s.colour].name;
  const std::string shape = shape_name(s.shape);
  const std::string size = size_name(s.size);
  const std::string dir = direction_words(s.direction, false);
  const std::string dir_long = direction_words(s.direction, true);
  return {
      plain_prompt(s, true),
      plain_prompt(s, false),
      "a " + colour + " " + shape + " moving " + dir + " on a " + background_words(s, "background"),
      colour + " " + shape_synonym(s.shape) + " slides " + dir + ", " + background_words(s, "backdrop"),
      "a " + size + " " + colour + " " + shape + " moves " + dir_long + " across a " + background_words(s, "background"),
      "on a " + background_words(s, "background") + ", a " + colour + " " + shape + " goes " + dir,
      size + " " + colour + " " + shape_synonym(s.shape) + " drifting " + dir_long + " over " +
          background_words(s, "backdrop"),
  };
}

}  // namespace soragen::world
