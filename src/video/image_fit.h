// Fitting a user's image to a model's frame size the way the reference's
// image-to-video preprocessing does (Wan2.2 TI2V, wan/textimage2video.py and
// wan/utils/utils.py): choose the output size from the image's aspect ratio
// and the model's area, scale the image to cover it, crop the centre.
#pragma once

#include <cstdint>
#include <utility>

#include "video/image_reader.h"

namespace soragen::video {

// Wan's best_output_size(w, h, dw, dh, expected_area): the (width, height),
// multiples of (dw, dh) with width * height <= expected_area, whose aspect
// ratio is closest to w / h, trying width first and height first. Python's
// float floor division and comparisons are followed exactly, so the same
// inputs give the same size. Throws UsageError when no such size exists
// (an area too small for one dw x dh block at this aspect ratio).
std::pair<int, int> best_output_size(int w, int h, int dw, int dh, std::int64_t expected_area);

// Scales `image` with Pillow's LANCZOS by max(width / w, height / h), each
// side rounded half to even as Python's round() does, so that it covers
// width x height, then crops the centre ((W - width) // 2, (H - height) // 2).
RgbImage cover_and_center_crop(const RgbImage& image, int width, int height);

}  // namespace soragen::video
