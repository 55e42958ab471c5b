#include "vae/tiling.h"

#include <stdexcept>
#include <string>

namespace soragen::vae {

std::vector<Span> tile_spans(int64_t length, int64_t tile, int64_t overlap) {
  if (length <= 0 || tile <= 0 || overlap < 0 || overlap >= tile) {
    throw std::invalid_argument("tiling: need length > 0 and 0 <= overlap < tile (length " + std::to_string(length) +
                                ", tile " + std::to_string(tile) + ", overlap " + std::to_string(overlap) + ")");
  }
  if (length <= tile) return {Span{0, length}};
  // The fewest tiles whose overlaps are all >= overlap, spread evenly so
  // every seam gets about the same overlap.
  const int64_t stride = tile - overlap;
  const int64_t count = 1 + (length - tile + stride - 1) / stride;
  std::vector<Span> spans;
  for (int64_t i = 0; i < count; ++i) {
    const int64_t begin = (i * (length - tile) + (count - 1) / 2) / (count - 1);
    spans.push_back(Span{begin, begin + tile});
  }
  return spans;
}

at::Tensor axis_ramp(const std::vector<Span>& spans, size_t index, int64_t factor) {
  const Span& span = spans.at(index);
  const int64_t size = span.size() * factor;
  at::Tensor ramp = at::ones({size}, at::kFloat);
  auto w = ramp.accessor<float, 1>();
  // Pixel centres (x + 0.5) / overlap: two tiles' weights at one pixel sum
  // to 1. Where three tiles meet (short frames) the decode still divides by
  // the summed weights.
  if (index > 0 && spans[index - 1].end > span.begin) {
    const int64_t overlap = (spans[index - 1].end - span.begin) * factor;
    for (int64_t x = 0; x < overlap && x < size; ++x) {
      w[x] = std::min(w[x], static_cast<float>((static_cast<double>(x) + 0.5) / static_cast<double>(overlap)));
    }
  }
  if (index + 1 < spans.size() && span.end > spans[index + 1].begin) {
    const int64_t overlap = (span.end - spans[index + 1].begin) * factor;
    for (int64_t x = 0; x < overlap && x < size; ++x) {
      const int64_t at = size - 1 - x;
      w[at] = std::min(w[at], static_cast<float>((static_cast<double>(x) + 0.5) / static_cast<double>(overlap)));
    }
  }
  return ramp;
}

}  // namespace soragen::vae
