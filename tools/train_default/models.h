// The modules of the default model, built from the configs in configs.h with
// uninitialised weights (init_for_training or a checkpoint fills them).
#pragma once

#include "dit/wan_model.h"
#include "text_encoder/umt5.h"
#include "vae/wan_vae.h"

namespace soragen::train {

vae::WanVAE make_vae();
text_encoder::UMT5Encoder make_text_encoder(int vocab);
dit::WanModel make_dit();

}  // namespace soragen::train
