// The model's files: its family's description, then the component files the
// spec names in place of that family's parts.
#include "pipeline/model_files.h"

#include "pipeline/component_files.h"
#include "pipeline/model_family.h"

namespace soragen::pipeline {

ModelFiles locate_model_files(const ModelSource& source) {
  ModelFiles files = model_family(source.family).locate(source);
  const ModelSpec& spec = source.spec;
  if (!spec.tokenizer && !spec.text_encoder && !spec.dit && !spec.low_noise_dit && !spec.vae) return files;
  files = with_component_files(std::move(files), spec);
  check_parts_agree(files);
  return files;
}

}  // namespace soragen::pipeline
