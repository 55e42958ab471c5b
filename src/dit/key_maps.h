// Checkpoint layouts of the Wan2.1 DiT and their renames into the official
// names (the internal naming). One table per layout, all in key_maps.cpp.
#pragma once

#include <string>

#include "io/state_dict.h"

namespace soragen::io {
class TensorSource;
}

namespace soragen::dit {

enum class DitLayout {
  official,   // Wan-AI/Wan2.1-T2V-*: diffusion_pytorch_model*.safetensors, WanModel names
  diffusers,  // Wan-AI/Wan2.1-T2V-*-Diffusers: transformer/, WanTransformer3DModel names
  comfy,      // Comfy-Org wan2.1_t2v_*.safetensors: official names under "model.diffusion_model."
};

const char* layout_name(DitLayout layout);

// Decided from the tensor names: the Comfy prefix, then diffusers-only names
// (condition_embedder., scale_shift_table, attn1.), else official.
DitLayout detect_dit_layout(const io::TensorSource& source);

// Checkpoint name -> official name for `layout`. Official is the identity.
const io::KeyMap& dit_key_map(DitLayout layout);

}  // namespace soragen::dit
