// The modules of the default model, built from the configs in configs.h with
// uninitialised weights (init_for_training or a checkpoint fills them).
#pragma once

#include <vector>

#include "dit/wan_model.h"
#include "tokenizer/tokenizer.h"
#include "text_encoder/umt5.h"
#include "vae/wan_vae.h"

namespace soragen::train {

vae::WanVAE make_vae();
text_encoder::UMT5Encoder make_text_encoder(int vocab);
dit::WanModel make_dit();

// The DiT's context for each tokenized prompt: the encoder's hidden states
// cut to the prompt's length, as the pipeline passes them (one batched
// encoder call).
std::vector<at::Tensor> encode_contexts(text_encoder::UMT5Encoder& encoder,
                                        const std::vector<const tokenizer::Tokenized*>& prompts);

}  // namespace soragen::train
