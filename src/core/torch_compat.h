// Everything that differs between Debian's libtorch 1.13 (CPU) and the
// libtorch 2.x that ships inside a CUDA PyTorch install lives here, so the rest
// of the code is written once.
#pragma once

#include <torch/version.h>

#if TORCH_VERSION_MAJOR >= 2
#define SORAGEN_TORCH_2 1
#else
#define SORAGEN_TORCH_2 0
#endif

// libtorch 2.1 added the float8 dtypes; before that, float8 weights are
// decoded to float on load.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
#define SORAGEN_TORCH_HAS_FLOAT8 1
#else
#define SORAGEN_TORCH_HAS_FLOAT8 0
#endif

// scaled_dot_product_attention (flash/fused attention) exists from 2.0 on;
// 1.13 takes the exact math path.
#define SORAGEN_TORCH_HAS_SDPA SORAGEN_TORCH_2
