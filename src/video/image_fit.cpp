#include "video/image_fit.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "soragen/error.h"
#include "video/image_resize.h"

namespace soragen::video {
namespace {

// Python's float `a // b` (Objects/floatobject.c float_floor_div), which is
// not always floor(a / b): it works from fmod, so a quotient that rounds up
// to a whole number in a / b stays below it here.
double py_floordiv(double a, double b) {
  double mod = std::fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0.0 && ((b < 0) != (mod < 0))) {
    mod += b;
    div -= 1.0;
  }
  if (div == 0.0) return std::copysign(0.0, a / b);
  double floor_div = std::floor(div);
  if (div - floor_div > 0.5) floor_div += 1.0;
  return floor_div;
}

}  // namespace

std::pair<int, int> best_output_size(int w, int h, int dw, int dh, std::int64_t expected_area) {
  const double area = static_cast<double>(expected_area);
  const double ratio = static_cast<double>(w) / h;
  const double ow = std::sqrt(area * ratio);  // Python: (area * ratio) ** 0.5
  const double oh = area / ow;

  const int ow1 = static_cast<int>(py_floordiv(ow, dw) * dw);
  const int oh2 = static_cast<int>(py_floordiv(oh, dh) * dh);
  if (ow1 <= 0 || oh2 <= 0) {
    throw UsageError("an image of " + std::to_string(w) + "x" + std::to_string(h) + " does not fit an area of " +
                     std::to_string(expected_area) + " pixels in blocks of " + std::to_string(dw) + "x" +
                     std::to_string(dh));
  }
  const int oh1 = static_cast<int>(py_floordiv(area / ow1, dh) * dh);
  const int ow2 = static_cast<int>(py_floordiv(area / oh2, dw) * dw);
  if (oh1 <= 0 || ow2 <= 0) {
    throw UsageError("an image of " + std::to_string(w) + "x" + std::to_string(h) + " is too narrow or too wide for " +
                     std::to_string(expected_area) + " pixels in blocks of " + std::to_string(dw) + "x" +
                     std::to_string(dh));
  }
  const double ratio1 = static_cast<double>(ow1) / oh1;
  const double ratio2 = static_cast<double>(ow2) / oh2;
  if (std::max(ratio / ratio1, ratio1 / ratio) < std::max(ratio / ratio2, ratio2 / ratio)) return {ow1, oh1};
  return {ow2, oh2};
}

RgbImage cover_and_center_crop(const RgbImage& image, int width, int height) {
  const double scale = std::max(static_cast<double>(width) / image.width, static_cast<double>(height) / image.height);
  // std::nearbyint in the default rounding mode rounds half to even, as Python's round().
  const int scaled_w = static_cast<int>(std::nearbyint(image.width * scale));
  const int scaled_h = static_cast<int>(std::nearbyint(image.height * scale));
  const RgbImage scaled = resize_lanczos(image, scaled_w, scaled_h);
  return crop(scaled, (scaled_w - width) / 2, (scaled_h - height) / 2, width, height);
}

}  // namespace soragen::video
