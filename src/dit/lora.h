// LoRAs on the DiT: `--lora FILE[:SCALE[:EXPERT]]`, merged into the weights
// when they load, so a LoRA costs nothing per step.
//
// For a low-rank pair the merged weight is
//   W' = W + scale * (alpha / rank) * (up @ down)
// (alpha = rank when the file has none, as PEFT and kohya read it); a full
// difference is W' = W + scale * diff, and diff_b adds to the bias. The sum is
// taken in float32 and stored back in the parameter's dtype. On a block
// weight kept quantized (--fp8-weights keep, dit/quantized_linear.h) a
// low-rank pair is applied at run time instead, beside the codes, and a full
// difference is summed with the decoded weight and quantized again.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "soragen/log.h"

namespace torch::nn {
class Module;
}

namespace soragen::io {
class TensorSource;
}

namespace soragen::dit {

// Which DiT of a two-expert model (Wan2.2 A14B) a LoRA changes.
enum class LoraExpert { both, high, low };

struct LoraSpec {
  std::filesystem::path path;
  double scale = 1.0;
  LoraExpert expert = LoraExpert::both;
};

// "FILE", "FILE:0.8", "FILE:1:high", "FILE:0.5:low" (both). The scale and
// the expert are read from the right, so a path may hold ':' itself.
// Throws UsageError naming the text and what is wrong.
LoraSpec parse_lora_spec(const std::string& text);

// As above, for a model with two experts or one: a LoRA for one expert on a
// one-DiT model is a UsageError.
LoraSpec parse_lora_spec(const std::string& text, bool two_experts);

// Whether text parses; the reason ("must be ...") when it does not.
std::string lora_spec_error(const std::string& text);

const char* lora_expert_name(LoraExpert expert);

struct LoraMergeReport {
  std::size_t merged = 0;                // parameters changed
  std::size_t at_run_time = 0;           // of them, quantized weights given a low-rank delta per call
  std::vector<std::string> unmatched;    // LoRA tensor names that change no parameter of this DiT
};

// Adds the LoRA in `lora` to `dit`'s parameters, `scale` times. A tensor whose
// shape does not fit its parameter (a LoRA for another model) is a ModelError
// naming it; tensors that match nothing are reported and warned about (count
// and first names), not an error: LoRA files often carry text-encoder parts.
LoraMergeReport merge_lora(torch::nn::Module& dit, const io::TensorSource& lora, double scale, const Logger& log);

}  // namespace soragen::dit
