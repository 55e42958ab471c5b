// One description per model family or layout: how a folder is recognised,
// what it must hold, and which files and configs serve as tokenizer, text
// encoder, DiT and VAE. resolve_model, locate_model_files, soragen-inspect and
// the loaders go through this interface only; a new family is a new file in
// families/ plus one line in families/registry.cpp.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/model_files.h"
#include "soragen/pipeline.h"

namespace soragen::pipeline {

struct FamilyMatch {
  int confidence = 0;                // 0: not this family; the highest claim wins
  std::vector<std::string> missing;  // what the family needs and the folder lacks
};

class ModelFamily {
 public:
  virtual ~ModelFamily() = default;
  // ModelSource::family, and what the log says ("Wan2.1 official").
  virtual const char* name() const = 0;
  // What marks a folder as this family, for the "no weights found" error
  // ("model_index.json (diffusers layout)"); empty when no folder is.
  virtual std::string recognised_by() const = 0;
  // Whether `dir` is laid out as this family; reads names, never weights.
  virtual FamilyMatch detect(const std::filesystem::path& dir) const = 0;
  // The error for a folder this family claims that lacks `missing`.
  virtual std::string missing_message(const std::string& given, const std::vector<std::string>& missing) const = 0;
  // Tokenizer, text encoder, DiT and VAE paths with their configs and the
  // generation defaults. Throws ModelError naming what is missing or malformed.
  virtual ModelFiles locate(const ModelSource& source) const = 0;
};

// Every registered family, in registration order.
const std::vector<const ModelFamily*>& model_families();

// The family registered under `name`; InternalError when none is.
const ModelFamily& model_family(const std::string& name);

// The family that claims `dir` with the highest confidence, with its match;
// {nullptr, {}} when none does.
std::pair<const ModelFamily*, FamilyMatch> detect_model_family(const std::filesystem::path& dir);

}  // namespace soragen::pipeline
