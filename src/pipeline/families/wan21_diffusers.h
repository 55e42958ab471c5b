// The diffusers spelling of a Wan2.1 DiT config (WanTransformer3DModel's
// transformer/config.json), translated into DitConfig; the component-files
// route reads a config.json beside a --dit file with it too.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "dit/config.h"

namespace soragen::pipeline {

// Whether a DiT config.json is spelled the diffusers way.
bool is_diffusers_dit_config(const nlohmann::json& raw);

// Throws ModelError("<where>: ...") for a missing or mistyped key.
dit::DitConfig dit_config_from_diffusers(const nlohmann::json& raw, const std::string& where);

}  // namespace soragen::pipeline
