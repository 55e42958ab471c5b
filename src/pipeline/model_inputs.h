// What a located model takes (soragen::ModelInputs), derived from its files'
// configs: the DiT's model_type, the number of experts, the VAE's kind.
#pragma once

#include "pipeline/model_files.h"
#include "soragen/pipeline.h"

namespace soragen::pipeline {

ModelInputs model_inputs(const ModelFiles& files);

// check_request_for_model without what needs the unresolved request or the
// image files: what Pipeline::generate checks again before it renders.
void check_resolved_for_model(const ResolvedRequest& request, const ModelInputs& inputs, bool vae_tile);

}  // namespace soragen::pipeline
