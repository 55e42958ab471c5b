#include "cli/options.h"

#include <CLI/CLI.hpp>

#include <filesystem>
#include <optional>

#include "core/parse_rule.h"
#include "soragen/distributed.h"
#include "soragen/error.h"
#include "soragen/request_fields.h"

namespace soragen::cli {

const char* const kHelpFooter = R"(
Defaults marked "model" come from the model (Wan2.1 T2V: 81 frames, 832x480,
16 fps, 50 steps, guidance 5.0, shift 5.0, unipc).

Batch files (--prompt-file): one prompt per line, or JSON Lines such as
  {"prompt": "a red ball bouncing", "seed": 7, "frames": 17, "output": "ball.mp4"}
Blank lines and lines starting with # are skipped. Name outputs with a pattern:
  -o 'out/{index:04}-{slug}.mp4'   ({index}, {index:0N}, {slug}, {seed}, {line})

Exit codes:
  0  success
  2  usage error (bad flag, prompt, size or prompt file)
  3  model or weights error (missing, corrupt or mismatched files)
  4  output error (the video could not be written)
  5  some items of a batch failed (the others were written)
  6  internal error: a contract inside soragen broke (a bug: please report it)
  7  another process of a multi-process run failed or fell silent (its message is shown)
  1  any other unexpected failure (libtorch, out of memory)
  130 interrupted (Ctrl-C); nothing partial is written

Examples:
  soragen --prompt "a small red circle moving to the right on a blue background" -o red.mp4
  soragen --model ~/Wan2.1-T2V-1.3B --prompt "a cat surfing" --seed 42 -o cat.mp4
  soragen --prompt-file prompts.txt -o 'out/{index:04}-{slug}.mp4' --skip-existing

Several processes (torchrun, Slurm's srun, Open MPI's mpirun) share a batch:
each renders every N-th item with its own copy of the model, and rank 0
prints the summary of all of them. One --prompt on 2 processes splits each
step's conditional and unconditional passes between them (CFG parallelism):
  torchrun --nproc-per-node 4 --no-python soragen --prompt-file prompts.txt -o 'out/{index:04}.mp4'
  torchrun --nproc-per-node 2 --no-python soragen --prompt "a cat surfing" -o cat.mp4)";

namespace {

// CLI11 would wrap "-5" around to a huge unsigned seed; accept digits only.
const CLI::Validator& whole_number() {
  static const CLI::Validator validator(
      [](std::string& text) {
        if (text.empty() || text.size() > 20 || text.find_first_not_of("0123456789") != std::string::npos ||
            (text.size() == 20 && text > "18446744073709551615")) {
          return std::string("must be a whole number from 0 to 18446744073709551615");
        }
        return std::string();
      },
      "UINT64");
  return validator;
}

// One flag per field of the table in `group`; a flag given on the command
// line sets its field, the others stay unset and take the model's defaults.
void add_request_fields(CLI::App& app, GenerationRequest& request, const std::string& group) {
  for (const AnyRequestField& any : request_fields()) {
    std::visit(
        [&](const auto& field) {
          using T = typename std::decay_t<decltype(field)>::value_type;
          if (group != field.group) return;
          auto* target = &(request.*field.requested);
          CLI::Option* option = nullptr;
          if constexpr (std::is_same_v<T, bool>) {
            option = app.add_flag_function(field.flags, [target](std::int64_t count) { *target = count > 0; },
                                           field.help);
          } else {
            option =
                app.add_option_function<T>(field.flags, [target](const T& value) { *target = value; }, field.help);
          }
          option->group(field.group);
          if constexpr (std::is_same_v<T, std::uint64_t>) option->check(whole_number());
          if constexpr (std::is_same_v<T, std::vector<std::string>>) {
            if (field.values == 0) {
              option->allow_extra_args(false);  // each --lora takes one value; repeats add up
            } else {
              option->expected(field.values);
            }
          }
        },
        any);
  }
}

}  // namespace

void add_options(CLI::App& app, CliOptions& o) {
  app.set_help_flag("-h,--help", "Show this help and exit");
  app.footer(kHelpFooter);
  app.get_formatter()->column_width(34);

  app.add_option("-p,--prompt", o.prompt, "What the video shows")->group("Prompt");
  app.add_option("--prompt-file", o.prompt_file, "Render every prompt of a text or JSON Lines file ('-': stdin)")
      ->group("Prompt");
  add_request_fields(app, o.request, "Prompt");

  app.add_option("-o,--output", o.output, "Output .mp4 file, or a folder ending in '/' for PNG frames")
      ->capture_default_str()->group("Output");
  app.add_option("--format", o.format, "auto, mp4 or png")
      ->check(CLI::IsMember({"auto", "mp4", "png"}))->capture_default_str()->group("Output");
  app.add_option("--crf", o.crf, "H.264 quality, 1 (best) to 51 (worst)")
      ->check(CLI::Range(1, 51))->capture_default_str()->group("Output");
  app.add_flag("--skip-existing", o.skip_existing, "Do not render items whose output exists (resume a batch)")
      ->group("Output");

  add_request_fields(app, o.request, "Video");
  add_request_fields(app, o.request, "Image to video");
  add_request_fields(app, o.request, "Clips");
  add_request_fields(app, o.request, "Long videos");
  add_request_fields(app, o.request, "Sampling");
  add_request_fields(app, o.request, "LoRA");
  add_request_fields(app, o.request, "Preview");

  app.add_option("-m,--model", o.model, "Bundled model name, or a directory of Wan2.1 or Wan2.2 weights (official, diffusers or Comfy-Org layout)")
      ->capture_default_str()->group("Model");
  add_model_file_options(app, o);
  app.add_option("--device", o.device, "auto, cpu, cuda or cuda:N")->capture_default_str()->group("Model");
  app.add_option("--dtype", o.dtype, "auto (bf16 on CUDA, fp32 on CPU), bf16, fp16 or fp32")
      ->capture_default_str()->group("Model");
  app.add_option("--threads", o.threads, "CPU threads [default: all cores]")
      ->check(CLI::Range(0, 1024))->group("Model");
  app.add_option("--text-encoder-device", o.text_encoder_device,
                 "Where the text encoder runs (cpu keeps the 11 GB umT5 off a small GPU) [default: --device]")
      ->group("Memory");
  app.add_flag("--offload", o.offload,
               "Keep the text encoder, DiT and VAE in CPU memory except while each runs (small GPUs)")
      ->group("Memory");
  app.add_flag("--vae-tile", o.vae_tile, "Decode large frames in overlapping tiles to bound memory")
      ->group("Memory");
  app.add_option("--fp8-weights", o.fp8_weights,
                 "A DiT file's fp8 or int8 weights (Comfy *_fp8_scaled, soragen-convert): auto keeps them as "
                 "stored and multiplies in fp8 on GPUs that can (compute capability 8.9+), decoding them to "
                 "--dtype at load elsewhere; keep always keeps them (half of bf16's memory): int8 weights are "
                 "multiplied by the CPU's int8 GEMM (faster than fp32, activations quantized per token), the "
                 "others decoded per layer call where there is no fp8 product; decode always decodes them at load")
      ->check(CLI::IsMember({"auto", "keep", "decode"}))->capture_default_str()->group("Memory");

  app.add_option("--parallel", o.parallel,
                 "Under torchrun, srun or mpirun, how one --prompt render splits over the processes: "
                 "ulysses=U,cfg=C with U*C processes (Ulysses: U share each DiT pass's tokens, U dividing the "
                 "model's attention heads; cfg=2: the conditional and unconditional passes run apart), or auto: "
                 "cfg=2 on an even count, the rest Ulysses. A --prompt-file batch is shared among the processes "
                 "instead")
      ->check([](const std::string& text) { return core::parse_error(parse_parallel, text); })
      ->capture_default_str()->group("Several processes");
  app.add_option("--rank-timeout", o.rank_timeout,
                 "Under torchrun, srun or mpirun: seconds to wait for every process to join, and that a "
                 "process may fall silent before the others stop")
      ->check(CLI::Range(1.0, 86400.0))->capture_default_str()->group("Several processes");

  app.add_flag("-v,--verbose", o.verbosity, "More detail, and timings per stage (-vv: debug)")->group("Logging");
  app.add_flag("-q,--quiet", o.quiet, "Errors only")->group("Logging");
  app.set_version_flag("--version", std::string("soragen ") + SORAGEN_VERSION);

  // A field whose group is not added above would have no flag.
  for (const AnyRequestField& any : request_fields()) {
    const char* flag = std::visit([](const auto& field) { return field.flag; }, any);
    if (!app.get_option_no_throw(flag)) throw InternalError(std::string("request field ") + flag + " has no flag");
  }
}

void add_model_file_options(CLI::App& app, CliOptions& o) {
  app.add_option("--dit", o.dit_file,
                 "DiT weights file or folder (official, diffusers or Comfy-Org names); replaces --model's")
      ->group("Model");
  app.add_option("--low-noise-dit", o.low_noise_dit_file,
                 "Wan2.2 A14B low-noise expert file or folder; --dit is then the high-noise one")
      ->group("Model");
  app.add_option("--text-encoder", o.text_encoder_file,
                 "umT5 text encoder weights file or folder (.pth, HF/Comfy .safetensors, scaled fp8); replaces "
                 "--model's")
      ->group("Model");
  app.add_option("--vae", o.vae_file, "Wan2.1 or Wan2.2 VAE weights file or folder; replaces --model's")->group("Model");
  app.add_option("--preview-decoder", o.preview_decoder_file,
                 "Tiny decoder (TAEHV design) for --preview and --fast-decode: taew2_1 for Wan2.1 and Wan2.2 "
                 "A14B, taew2_2 for Wan2.2 TI2V-5B (.pth or .safetensors); replaces --model's")
      ->group("Model");
  app.add_option("--tokenizer", o.tokenizer_file,
                 "sentencepiece tokenizer (spiece.model) or its folder; replaces --model's. With all four of "
                 "--dit, --text-encoder, --vae and --tokenizer, --model is not needed (Wan2.1 T2V defaults)")
      ->group("Model");
  // An error, not a warning, on request: a checkpoint of a wider model (a
  // Wan2.1 I2V DiT with img_emb / k_img / v_img) holds every T2V tensor and
  // would otherwise load as T2V with only a warning. Off by default, because
  // downloads carry harmless extras (a full T5's decoder is dropped by name,
  // but other repackagings add their own tensors) that must keep loading.
  app.add_flag("--strict-weights", o.strict_weights,
               "Refuse checkpoints with unexpected tensors instead of warning (e.g. an I2V DiT that would load "
               "as T2V)")
      ->group("Model");
}

ModelSpec model_spec_from_flags(const CLI::App& app, const CliOptions& o) {
  ModelSpec spec;
  spec.model = o.model;
  const auto path = [&](const char* flag, const std::string& value) -> std::optional<std::filesystem::path> {
    if (app.count(flag) == 0) return std::nullopt;
    return std::filesystem::path(value);
  };
  spec.tokenizer = path("--tokenizer", o.tokenizer_file);
  spec.text_encoder = path("--text-encoder", o.text_encoder_file);
  spec.dit = path("--dit", o.dit_file);
  spec.low_noise_dit = path("--low-noise-dit", o.low_noise_dit_file);
  if (spec.low_noise_dit && !spec.dit) {
    throw UsageError("--low-noise-dit '" + o.low_noise_dit_file + "': needs --dit, the high-noise expert");
  }
  spec.vae = path("--vae", o.vae_file);
  spec.preview_decoder = path("--preview-decoder", o.preview_decoder_file);
  spec.strict_weights = o.strict_weights;
  if (spec.all_components_given() && app.count("--model") > 0) {
    throw UsageError("--model '" + o.model +
                     "': not used when --dit, --text-encoder, --vae and --tokenizer are all given; drop one");
  }
  return spec;
}

GenerationRequest request_from_flags(const CliOptions& o) {
  GenerationRequest r = o.request;
  r.prompt = o.prompt;
  return r;
}

}  // namespace soragen::cli
