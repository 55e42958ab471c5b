// Spatial tiling of the VAE decode: the latent frame is cut into overlapping
// tiles, each decoded with its own feature cache, and the decoded tiles are
// blended with linear ramps across every overlap. The per-step working set
// then scales with the tile, not the frame (1280x720 fits where an untiled
// pass would not).
//
// Tiling is an approximation: the decoder's receptive field is wider than any
// practical overlap and its middle attention spans the whole frame, so a tile
// sees less context than the full frame. tests/vae measures the difference.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace soragen::vae {

// A tiled decode split over the ranks of a job (one render on several
// processes): rank r decodes tiles r, r + ranks, ... of every frame into its
// share of the blend, and `sum` adds the shares over the ranks, so that every
// rank gets the whole frame, the one a single process blends to rounding.
struct TileShare {
  int rank = 0;
  int ranks = 1;
  std::function<at::Tensor(const at::Tensor&)> sum;  // collective; unset with one rank
};

struct TileOptions {
  int64_t tile = 0;     // tile side in latent pixels (x8 in output pixels); 0 disables tiling
  int64_t overlap = 8;  // latent pixels shared by neighbouring tiles (blended), < tile
  TileShare share;      // default: this process decodes every tile

  bool enabled() const { return tile > 0; }
  // 256-pixel tiles with 64-pixel overlaps (the same geometry as diffusers'
  // AutoencoderKLWan tiling); frames up to 256 pixels stay untiled.
  static TileOptions automatic() { return TileOptions{32, 8}; }
};

// A half-open range of latent rows or columns.
struct Span {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
};

// Tiles covering [0, length): the fewest tiles of size `tile` whose
// neighbours overlap by at least `overlap`, spread evenly. One span when
// length <= tile. Throws std::invalid_argument on a bad
// geometry.
std::vector<Span> tile_spans(int64_t length, int64_t tile, int64_t overlap);

// Float32 blend weights of tile `index` along one axis, in output pixels
// ([spans[index].size() * factor]): 1 inside, ramping linearly to ~0 across
// each overlap with a neighbour, so two overlapping ramps sum to 1.
at::Tensor axis_ramp(const std::vector<Span>& spans, size_t index, int64_t factor);

}  // namespace soragen::vae
