// What a LoRA file's tensor names mean: which DiT parameter each one changes
// and what part it is (the down or up matrix, the alpha, a full difference).
// One parser for every naming in the wild for Wan2.1 and Wan2.2:
//   diffusers / PEFT   transformer.blocks.0.attn1.to_q.lora_A.weight (lora_B, .default. adapters)
//   official names     diffusion_model.blocks.0.self_attn.q.lora_A.weight (lightx2v, Musubi)
//   kohya / Comfy      lora_unet_blocks_0_self_attn_q.lora_down.weight, .lora_up.weight, .alpha
//   full differences   diffusion_model.blocks.0.norm3.diff, .diff_b (lightx2v, Comfy)
// with or without the transformer. / diffusion_model. / base_model.model.
// prefixes, on official or diffusers module names.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>

namespace soragen::dit {

enum class LoraPart {
  down,        // A: [rank, in] (lora_A, lora_down)
  up,          // B: [out, rank] (lora_B, lora_up)
  alpha,       // scalar: the delta is scaled by alpha / rank
  diff,        // a full difference added to the weight (or to the parameter itself)
  diff_bias,   // a full difference added to the bias
};

struct LoraKey {
  std::string module;  // the official module name: "blocks.0.self_attn.q"
  LoraPart part;
};

// The model's parameter names, and each module's and parameter's name in
// kohya's spelling ('_' for '.'), mapped once per merge rather than once per
// LoRA tensor.
class DitParameterNames {
 public:
  explicit DitParameterNames(std::set<std::string> names);

  const std::set<std::string>& names() const { return names_; }
  // "blocks_0_self_attn_q" -> "blocks.0.self_attn.q" (a module's weight
  // owner) or "blocks_0_modulation" -> "blocks.0.modulation" (a parameter);
  // nullopt when no name flattens to it.
  std::optional<std::string> unflatten(const std::string& flat) const;

 private:
  std::set<std::string> names_;
  std::map<std::string, std::string> flat_to_official_;
};

// The module and part a LoRA tensor name stands for, with the module in
// official names; nullopt for a name in no known LoRA form. `parameters`
// tells official module names from diffusers ones and undoes kohya's '_'
// for '.'.
std::optional<LoraKey> parse_lora_key(const std::string& name, const DitParameterNames& parameters);

}  // namespace soragen::dit
