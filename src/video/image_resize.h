// Resizing and cropping an RgbImage the way the reference's preprocessing
// does with PIL: `img.resize(size, Image.LANCZOS)` then `img.crop(box)`.
// The TI2V golden data checks the result byte for byte, so the resize follows
// Pillow's resampling arithmetic (Resample.c), not a generic Lanczos.
#pragma once

#include "video/image_reader.h"

namespace soragen::video {

// Pillow's LANCZOS (a = 3) resize of an 8-bit image, exact to the byte:
// - per output pixel, the kernel is centred at (x + 0.5) * scale and widened
//   by the scale when shrinking (antialiasing);
// - the weights are normalised, then rounded to 22-bit fixed point;
// - each pass (horizontal first, then vertical, each only where the size
//   changes) rounds and clamps to 8 bits.
// Checked byte for byte against Pillow 11.3 on 300 random sizes and images,
// and against the TI2V golden file. Pillow 13 runs the vertical pass first
// when the height shrinks by more than twice what the width does, which moves
// some bytes by a few levels; the reference's Pillow (<= 12) does not.
RgbImage resize_lanczos(const RgbImage& image, int width, int height);

// The width x height window at (x, y), which must lie inside the image.
RgbImage crop(const RgbImage& image, int x, int y, int width, int height);

}  // namespace soragen::video
