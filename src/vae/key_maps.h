// Checkpoint layouts of the Wan2.1 and Wan2.2 VAEs and their renames to the
// internal (official) names, all in key_maps.cpp.
#pragma once

#include "io/state_dict.h"
#include "io/tensor_source.h"
#include "vae/vae_config.h"
#include "vae/wan22_config.h"

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

// The same for the Wan2.2 VAE: the internal names are Wan2.2_VAE.pth's, and
// diffusers' is_residual AutoencoderKLWan splits each stage's list into
// resnets plus one downsampler / upsampler.
io::KeyMap vae22_key_map(VaeLayout layout, const Vae22Config& config);

}  // namespace soragen::vae
