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
  // Another DiT than the folder's: the folder's step-cache tables were fitted to its own.
  if (spec.dit || spec.low_noise_dit) files.step_cache.reset();
  files = with_component_files(std::move(files), spec);
  check_parts_agree(files);
  return files;
}

dit::StepCacheTables step_cache_tables(const ModelFiles& files) {
  if (files.step_cache) return *files.step_cache;
  return dit::published_step_cache_tables(files.dit_config, files.two_experts());
}

}  // namespace soragen::pipeline
