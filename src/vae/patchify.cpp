#include "vae/patchify.h"

#include <string>

#include "io/tensor_source.h"
#include "soragen/error.h"

namespace soragen::vae {

at::Tensor patchify(const at::Tensor& x, int64_t patch) {
  if (x.dim() != 5 || x.size(3) % patch != 0 || x.size(4) % patch != 0) {
    throw InternalError("patchify: need [B, C, F, H, W] with H and W multiples of " + std::to_string(patch) +
                        ", got " + io::format_shape(x.sizes()));
  }
  const int64_t b = x.size(0), c = x.size(1), f = x.size(2), h = x.size(3) / patch, w = x.size(4) / patch;
  // dims of the view: b c f h q w r -> b c r q f h w
  return x.reshape({b, c, f, h, patch, w, patch})
      .permute({0, 1, 6, 4, 2, 3, 5})
      .reshape({b, c * patch * patch, f, h, w});
}

at::Tensor unpatchify(const at::Tensor& x, int64_t patch) {
  if (x.dim() != 5 || x.size(1) % (patch * patch) != 0) {
    throw InternalError("unpatchify: need [B, C*" + std::to_string(patch * patch) + ", F, h, w], got " +
                        io::format_shape(x.sizes()));
  }
  const int64_t b = x.size(0), c = x.size(1) / (patch * patch), f = x.size(2), h = x.size(3), w = x.size(4);
  // dims of the view: b c r q f h w -> b c f h q w r
  return x.reshape({b, c, patch, patch, f, h, w})
      .permute({0, 1, 4, 5, 3, 6, 2})
      .reshape({b, c, f, h * patch, w * patch});
}

}  // namespace soragen::vae
