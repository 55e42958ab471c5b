#include "video/image_resize.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "soragen/error.h"

namespace soragen::video {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's fixed point for 8-bit images
constexpr double kLanczosSupport = 3.0;

double sinc(double x) {
  if (x == 0.0) return 1.0;
  x *= M_PI;
  return std::sin(x) / x;
}

double lanczos(double x) { return -kLanczosSupport <= x && x < kLanczosSupport ? sinc(x) * sinc(x / 3.0) : 0.0; }

// The input span and fixed-point weights of each output pixel along one axis.
struct AxisWeights {
  int taps = 0;               // weights per output pixel (some trailing ones 0)
  std::vector<int> first;     // first input index of each output pixel
  std::vector<int> count;     // inputs used by each output pixel
  std::vector<int> weights;   // out_size * taps
};

AxisWeights axis_weights(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = kLanczosSupport * filter_scale;
  AxisWeights axis;
  axis.taps = static_cast<int>(std::ceil(support)) * 2 + 1;
  axis.first.resize(out_size);
  axis.count.resize(out_size);
  axis.weights.assign(static_cast<std::size_t>(out_size) * axis.taps, 0);
  std::vector<double> w(axis.taps);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    // Pillow truncates center -/+ support + 0.5 toward zero, then clamps.
    const int lo = std::max(static_cast<int>(center - support + 0.5), 0);
    const int hi = std::min(static_cast<int>(center + support + 0.5), in_size);
    const int n = hi - lo;
    double total = 0.0;
    for (int x = 0; x < n; ++x) {
      w[x] = lanczos((x + lo - center + 0.5) * (1.0 / filter_scale));
      total += w[x];
    }
    for (int x = 0; x < n; ++x) {
      const double normalised = total != 0.0 ? w[x] / total : w[x];
      const double fixed = normalised * (1 << kPrecisionBits);
      axis.weights[static_cast<std::size_t>(xx) * axis.taps + x] =
          static_cast<int>(normalised < 0 ? -0.5 + fixed : 0.5 + fixed);
    }
    axis.first[xx] = lo;
    axis.count[xx] = n;
  }
  return axis;
}

std::uint8_t clip8(std::int64_t sum) {
  const std::int64_t value = sum >> kPrecisionBits;
  return static_cast<std::uint8_t>(std::clamp<std::int64_t>(value, 0, 255));
}

RgbImage resize_horizontal(const RgbImage& in, int width) {
  const AxisWeights axis = axis_weights(in.width, width);
  RgbImage out;
  out.width = width;
  out.height = in.height;
  out.pixels.resize(static_cast<std::size_t>(width) * in.height * 3);
  for (int y = 0; y < in.height; ++y) {
    for (int xx = 0; xx < width; ++xx) {
      const int* k = &axis.weights[static_cast<std::size_t>(xx) * axis.taps];
      for (int c = 0; c < 3; ++c) {
        std::int64_t sum = 1 << (kPrecisionBits - 1);
        for (int x = 0; x < axis.count[xx]; ++x) sum += std::int64_t{in.at(axis.first[xx] + x, y)[c]} * k[x];
        out.at(xx, y)[c] = clip8(sum);
      }
    }
  }
  return out;
}

RgbImage resize_vertical(const RgbImage& in, int height) {
  const AxisWeights axis = axis_weights(in.height, height);
  RgbImage out;
  out.width = in.width;
  out.height = height;
  out.pixels.resize(static_cast<std::size_t>(in.width) * height * 3);
  for (int yy = 0; yy < height; ++yy) {
    const int* k = &axis.weights[static_cast<std::size_t>(yy) * axis.taps];
    for (int x = 0; x < in.width; ++x) {
      for (int c = 0; c < 3; ++c) {
        std::int64_t sum = 1 << (kPrecisionBits - 1);
        for (int y = 0; y < axis.count[yy]; ++y) sum += std::int64_t{in.at(x, axis.first[yy] + y)[c]} * k[y];
        out.at(x, yy)[c] = clip8(sum);
      }
    }
  }
  return out;
}

}  // namespace

RgbImage resize_lanczos(const RgbImage& image, int width, int height) {
  if (width <= 0 || height <= 0 || image.width <= 0 || image.height <= 0) {
    throw InternalError("resize_lanczos: " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                        " to " + std::to_string(width) + "x" + std::to_string(height));
  }
  // Pillow skips a pass whose size does not change (at scale 1 the kernel
  // would be the identity anyway).
  RgbImage out = width != image.width ? resize_horizontal(image, width) : image;
  if (height != image.height) out = resize_vertical(out, height);
  return out;
}

RgbImage crop(const RgbImage& image, int x, int y, int width, int height) {
  if (x < 0 || y < 0 || width <= 0 || height <= 0 || x + width > image.width || y + height > image.height) {
    throw InternalError("crop: window " + std::to_string(width) + "x" + std::to_string(height) + " at (" +
                        std::to_string(x) + ", " + std::to_string(y) + ") outside a " + std::to_string(image.width) +
                        "x" + std::to_string(image.height) + " image");
  }
  RgbImage out;
  out.width = width;
  out.height = height;
  out.pixels.resize(static_cast<std::size_t>(width) * height * 3);
  for (int row = 0; row < height; ++row) {
    std::copy_n(image.at(x, y + row), static_cast<std::size_t>(width) * 3, out.at(0, row));
  }
  return out;
}

}  // namespace soragen::video
