// The bundled model's model.json (and any JSON config) as data: parsed with
// size and nesting limits, every config and default validated.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

#include "pipeline/model_files.h"

namespace soragen::pipeline {

// A JSON object from a file of at most 1 MiB nested at most 32 levels.
// Throws ModelError("model file '<path>': ...").
nlohmann::json read_json_config(const std::filesystem::path& path);

// The files and configs a model.json names under `directory`; with
// `check_files` each named file must exist. Throws ModelError naming the
// manifest.
ModelFiles manifest_files(const nlohmann::json& model, const std::filesystem::path& directory,
                          const std::filesystem::path& manifest, bool check_files);

// A shipped model's defaults file (models/configs/<model>.defaults.json):
// "defaults" checked by the same field rules as model.json's, and "boundary",
// the expert switch of a two-expert model (0 or absent for one DiT).
struct ShippedDefaults {
  GenerationDefaults defaults;
  double boundary = 0;
};
ShippedDefaults read_model_defaults(const std::filesystem::path& path);

// A model.json from its text, without checking that the files it names exist
// (fuzzing, tests). `manifest` is where it claims to be, for paths and messages.
ModelFiles parse_model_manifest(const std::string& text, const std::filesystem::path& manifest);

}  // namespace soragen::pipeline
