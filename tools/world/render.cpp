#include "render.h"

#include <algorithm>
#include <cmath>

namespace soragen::world {
namespace {

struct Rgb {
  float r, g, b;
};

Rgb mix(Rgb a, Rgb b, float t) { return {a.r + (b.r - a.r) * t, a.g + (b.g - a.g) * t, a.b + (b.b - a.b) * t}; }

Rgb rgb_of(const Colour& c) { return {float(c.r), float(c.g), float(c.b)}; }

// Whether the point (x, y) (in pixels) is inside the object centred at (cx, cy).
bool inside(Shape shape, float x, float y, float cx, float cy, float r) {
  const float dx = x - cx, dy = y - cy;
  switch (shape) {
    case Shape::circle:
      return dx * dx + dy * dy <= r * r;
    case Shape::square: {
      const float half = 0.9f * r;
      return std::fabs(dx) <= half && std::fabs(dy) <= half;
    }
    case Shape::triangle: {
      // Pointing up, circumradius 1.2 r: apex (0, -R), base at y = R/2 from -s to s.
      const float big_r = 1.2f * r;
      const float base_y = 0.5f * big_r;
      const float half_base = big_r * 0.8660254f;
      if (dy < -big_r || dy > base_y) return false;
      const float half_width = half_base * (dy + big_r) / (base_y + big_r);
      return std::fabs(dx) <= half_width;
    }
  }
  return false;
}

}  // namespace

Colour background_at(const Scene& scene, float y_fraction) {
  const Colour& base = palette()[scene.background];
  if (!scene.gradient) return base;
  // Lighter at the top, darker at the bottom, the named colour in the middle.
  const Rgb c = rgb_of(base);
  const Rgb shaded = y_fraction < 0.5f ? mix(c, Rgb{255, 255, 255}, (0.5f - y_fraction) * 0.5f)
                                       : mix(c, Rgb{0, 0, 0}, (y_fraction - 0.5f) * 0.6f);
  const auto to_u8 = [](float v) { return static_cast<std::uint8_t>(std::clamp(std::lround(v), 0L, 255L)); };
  return Colour{base.name, to_u8(shaded.r), to_u8(shaded.g), to_u8(shaded.b)};
}

VideoFrames render(const Scene& scene, int frames, int width, int height) {
  VideoFrames video(width, height, frames);
  const Rgb object = rgb_of(palette()[scene.colour]);
  const float scale = static_cast<float>(std::min(width, height));
  const float radius = radius_fraction(scene.size) * scale;
  constexpr int kSub = 4;
  for (int f = 0; f < frames; ++f) {
    const float progress = frames > 1 ? static_cast<float>(f) / static_cast<float>(frames - 1) : 0.f;
    const Point centre = centre_at(scene, progress);
    const float cx = centre.x * static_cast<float>(width);
    const float cy = centre.y * static_cast<float>(height);
    std::uint8_t* out = video.frame(f);
    for (int y = 0; y < height; ++y) {
      const Rgb background = rgb_of(background_at(scene, (static_cast<float>(y) + 0.5f) / static_cast<float>(height)));
      for (int x = 0; x < width; ++x) {
        int covered = 0;
        for (int sy = 0; sy < kSub; ++sy) {
          for (int sx = 0; sx < kSub; ++sx) {
            const float px = static_cast<float>(x) + (static_cast<float>(sx) + 0.5f) / kSub;
            const float py = static_cast<float>(y) + (static_cast<float>(sy) + 0.5f) / kSub;
            covered += inside(scene.shape, px, py, cx, cy, radius) ? 1 : 0;
          }
        }
        const Rgb c = mix(background, object, static_cast<float>(covered) / (kSub * kSub));
        std::uint8_t* p = out + (static_cast<size_t>(y) * width + x) * 3;
        p[0] = static_cast<std::uint8_t>(std::lround(c.r));
        p[1] = static_cast<std::uint8_t>(std::lround(c.g));
        p[2] = static_cast<std::uint8_t>(std::lround(c.b));
      }
    }
  }
  return video;
}

}  // namespace soragen::world
