// Checkpoint layouts of the Wan2.1 VAE and their renames to the internal
// (official Wan2.1) names, all in key_maps.cpp.
#pragma once

#include "io/state_dict.h"
#include "io/tensor_source.h"
#include "vae/vae_config.h"

namespace soragen::vae {

enum class VaeLayout {
  official,   // Wan2.1_VAE.pth; Comfy-Org's wan_2.1_vae.safetensors uses the same names
  comfy_checkpoint,  // official names under "first_stage_model." (a VAE inside a Comfy checkpoint)
  diffusers,  // AutoencoderKLWan (vae/diffusion_pytorch_model.safetensors)
};

const char* layout_name(VaeLayout layout);

// Decided by marker tensors; throws ModelError naming the file when none fits.
VaeLayout detect_vae_layout(const io::TensorSource& source);

// The renames for a layout. The diffusers decoder regroups the flat
// `upsamples` list into up_blocks, so its table depends on the config.
io::KeyMap vae_key_map(VaeLayout layout, const VaeConfig& config);

}  // namespace soragen::vae
