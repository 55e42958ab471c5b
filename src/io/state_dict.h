// One strict loader for every model: fills a module's parameters and buffers
// from a TensorSource by name, after a layout's key renames, and reports every
// missing and mis-shaped tensor in one error.
#pragma once

#include <c10/core/ScalarType.h>

#include <optional>
#include <string>
#include <vector>

#include "io/tensor_source.h"
#include "soragen/log.h"

namespace torch::nn {
class Module;
}

namespace soragen::io {

// Checkpoint name -> internal (Wan2.1 original) name. Table-driven so that
// each checkpoint layout (diffusers, Comfy, HF T5) is data, not code.
struct KeyRename {
  enum class Kind {
    prefix,     // replaces `from` at the start of the name
    substring,  // replaces every occurrence of `from`
  };
  Kind kind;
  std::string from;
  std::string to;
};

struct KeyMap {
  // Checkpoint names starting with one of these are ignored (tested before
  // any rename), e.g. "model_ema." or a VAE bundled in a single-file checkpoint.
  std::vector<std::string> dropped_prefixes;
  // Applied in order, each to the result of the previous one.
  std::vector<KeyRename> renames;

  // The internal name, or nullopt for a dropped checkpoint name.
  std::optional<std::string> apply(const std::string& checkpoint_name) const;
};

struct LoadOptions {
  const KeyMap* key_map = nullptr;  // nullptr: names are used as they are
  // Floating-point parameters and buffers are stored in this dtype (the
  // module's tensors are replaced); nullopt keeps each one's current dtype.
  std::optional<c10::ScalarType> dtype;
  // Unexpected tensors are one ModelError instead of a warning
  // (--strict-weights): a checkpoint of a wider model, such as a Wan2.1 I2V
  // DiT with its img_emb / k_img / v_img tensors, would otherwise load as the
  // narrower model with only a warning.
  bool unexpected_is_error = false;
};

struct LoadReport {
  size_t loaded = 0;
  std::vector<std::string> unexpected;  // checkpoint names (after renames) the module lacks
  size_t dropped = 0;                   // matched dropped_prefixes
};

// Every parameter and buffer of `module` (recursively) must be in the source
// with the same shape; otherwise one ModelError lists the count and first few
// missing names and every shape mismatch. Unexpected tensors are a warning
// (count and first names), or that error with options.unexpected_is_error.
// Integer tensors keep their dtype. Copies happen under NoGradGuard.
LoadReport load_state_dict(torch::nn::Module& module, const TensorSource& source, const Logger& log,
                           const LoadOptions& options = {});

}  // namespace soragen::io
