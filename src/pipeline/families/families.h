// The registered model families, one file each; registry.cpp lists them.
#pragma once

#include "pipeline/model_family.h"

namespace soragen::pipeline {

const ModelFamily& bundled_family();          // families/bundled.cpp
const ModelFamily& wan21_official_family();   // families/wan21_official.cpp
const ModelFamily& wan21_diffusers_family();  // families/wan21_diffusers.cpp
const ModelFamily& wan22_official_family();   // families/wan22_official.cpp
const ModelFamily& wan22_diffusers_family();  // families/wan22_diffusers.cpp
const ModelFamily& wan22_comfy_family();      // families/wan22_comfy.cpp
const ModelFamily& component_files_family();  // families/component_files.cpp

}  // namespace soragen::pipeline
