#include "detect.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace soragen::world {
namespace {

struct Rgb {
  float r = 0, g = 0, b = 0;
};

float distance(const Rgb& a, const Rgb& b) {
  return std::sqrt((a.r - b.r) * (a.r - b.r) + (a.g - b.g) * (a.g - b.g) + (a.b - b.b) * (a.b - b.b));
}

float median(std::vector<float> v) {
  if (v.empty()) return 0;
  const auto mid = v.begin() + static_cast<long>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  return *mid;
}

Rgb median_rgb(const std::vector<Rgb>& pixels) {
  std::vector<float> r, g, b;
  for (const Rgb& p : pixels) {
    r.push_back(p.r);
    g.push_back(p.g);
    b.push_back(p.b);
  }
  return {median(r), median(g), median(b)};
}

int nearest_colour(const Rgb& c) {
  int best = 0;
  float best_d = 1e9f;
  const auto& colours = palette();
  for (size_t i = 0; i < colours.size(); ++i) {
    const float d = distance(c, Rgb{float(colours[i].r), float(colours[i].g), float(colours[i].b)});
    if (d < best_d) {
      best_d = d;
      best = static_cast<int>(i);
    }
  }
  return best;
}

Rgb pixel(const VideoFrames& v, int f, int y, int x) {
  const std::uint8_t* p = v.frame(f) + (static_cast<size_t>(y) * v.width + x) * 3;
  return {float(p[0]), float(p[1]), float(p[2])};
}

// A pixel belongs to the object when it is this far (RGB distance) from its
// row's background; the closest palette pair (orange/yellow) is ~85 apart.
constexpr float kObjectDistance = 45.f;

}  // namespace

Detection detect(const VideoFrames& v) {
  Detection d;
  const int w = v.width, h = v.height;
  if (w < 8 || h < 8 || v.count < 1) return d;

  // Background per row (gradients shade vertically): the median of the two
  // outermost columns on each side over all frames; the object covers them
  // in few frames if any.
  std::vector<Rgb> row_background(static_cast<size_t>(h));
  std::vector<Rgb> all_border;
  for (int y = 0; y < h; ++y) {
    std::vector<Rgb> samples;
    for (int f = 0; f < v.count; ++f) {
      for (int x : {0, 1, w - 2, w - 1}) samples.push_back(pixel(v, f, y, x));
    }
    row_background[static_cast<size_t>(y)] = median_rgb(samples);
    all_border.insert(all_border.end(), samples.begin(), samples.end());
  }
  d.background = nearest_colour(median_rgb(all_border));

  // Object pixels per frame -> centroid, fill of the bounding box, colour samples.
  std::vector<Rgb> object_pixels;
  std::vector<float> fills;
  float first_x = 0, first_y = 0, last_x = 0, last_y = 0;
  const int min_pixels = std::max(4, w * h / 400);
  d.path.assign(static_cast<size_t>(v.count), std::nullopt);
  for (int f = 0; f < v.count; ++f) {
    double sx = 0, sy = 0;
    int n = 0, x0 = w, x1 = -1, y0 = h, y1 = -1;
    std::vector<std::pair<float, Rgb>> frame_pixels;
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        const Rgb p = pixel(v, f, y, x);
        const float dist = distance(p, row_background[static_cast<size_t>(y)]);
        if (dist < kObjectDistance) continue;
        sx += x;
        sy += y;
        ++n;
        x0 = std::min(x0, x);
        x1 = std::max(x1, x);
        y0 = std::min(y0, y);
        y1 = std::max(y1, y);
        frame_pixels.emplace_back(dist, p);
      }
    }
    if (n < min_pixels) continue;
    const float cx = static_cast<float>(sx / n), cy = static_cast<float>(sy / n);
    d.path[static_cast<size_t>(f)] = Detection::Point{cx, cy};
    if (d.object_frames == 0) {
      first_x = cx;
      first_y = cy;
    }
    last_x = cx;
    last_y = cy;
    ++d.object_frames;
    fills.push_back(static_cast<float>(n) / static_cast<float>((x1 - x0 + 1) * (y1 - y0 + 1)));
    // The colour from the object's core: the half of its pixels farthest from
    // the background (edges are blends of the two).
    std::sort(frame_pixels.begin(), frame_pixels.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    for (size_t i = 0; i < std::max<size_t>(1, frame_pixels.size() / 2); ++i) object_pixels.push_back(frame_pixels[i].second);
  }
  if (d.object_frames == 0) return d;
  d.colour = nearest_colour(median_rgb(object_pixels));
  d.fill = median(fills);
  // A square fills its box, a circle pi/4 of it, a triangle half.
  if (d.fill > 0.88f) {
    d.shape = Shape::square;
  } else if (d.fill > 0.64f) {
    d.shape = Shape::circle;
  } else {
    d.shape = Shape::triangle;
  }
  const float dx = last_x - first_x, dy = last_y - first_y;
  d.moved = std::sqrt(dx * dx + dy * dy);
  // At least a tenth of the frame, else it stood still.
  if (d.moved >= 0.1f * static_cast<float>(std::min(w, h)) && d.object_frames >= v.count / 2) {
    if (std::fabs(dx) >= std::fabs(dy)) {
      d.direction = dx > 0 ? Direction::right : Direction::left;
    } else {
      d.direction = dy > 0 ? Direction::down : Direction::up;
    }
  }
  return d;
}

std::string describe_detection(const Detection& d) {
  std::string s = std::string("background ") + (d.background >= 0 ? palette()[d.background].name : "?");
  if (d.colour < 0) return s + ", no object";
  s += std::string(", object ") + palette()[d.colour].name + " " + (d.shape ? shape_name(*d.shape) : "?");
  s += d.direction ? std::string(" moving ") + direction_name(*d.direction) : std::string(" standing still");
  return s;
}

}  // namespace soragen::world
