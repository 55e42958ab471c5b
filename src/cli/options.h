// The command line: every flag, its default and its help text.
#pragma once

#include <string>

#include <CLI/App.hpp>

#include "soragen/options.h"

namespace soragen::cli {

struct CliOptions {
  std::string prompt;
  std::string prompt_file;
  std::string output = "out.mp4";
  std::string format = "auto";
  int crf = 18;
  bool skip_existing = false;

  std::string model = "default";
  // Single component files or folders (add_model_file_options).
  std::string tokenizer_file;
  std::string text_encoder_file;
  std::string dit_file;
  std::string low_noise_dit_file;
  std::string vae_file;
  std::string preview_decoder_file;
  bool strict_weights = false;
  std::string device = "auto";
  std::string dtype = "auto";
  int threads = 0;
  std::string text_encoder_device = "auto";
  bool offload = false;
  bool vae_tile = false;
  std::string fp8_weights = "auto";

  // The request fields of soragen/request_fields.h, set only by the flags
  // given on the command line.
  GenerationRequest request;

  // Multi-process jobs: how long the rendezvous may take, and how long a
  // rank may send no heartbeat before the others stop.
  double rank_timeout = 60;
  std::string parallel = "auto";  // --parallel: "auto" or "ulysses=U,cfg=C"

  int verbosity = 0;  // -v count
  bool quiet = false;
};

// Registers every flag on `app`, bound to `options`.
void add_options(CLI::App& app, CliOptions& options);

// --tokenizer, --text-encoder, --dit, --vae, --preview-decoder and --strict-weights, in the
// "Model" group; add_options calls it.
void add_model_file_options(CLI::App& app, CliOptions& options);

// The model the flags ask for: --model and the component files that replace
// its parts. Throws UsageError for --model given beside all four files.
ModelSpec model_spec_from_flags(const CLI::App& app, const CliOptions& options);

// The generation request the flags ask for: only flags given on the command
// line are set, the rest stay unset and take the model's defaults.
GenerationRequest request_from_flags(const CliOptions& options);

// Exit codes and examples, shown at the end of --help.
extern const char* const kHelpFooter;

}  // namespace soragen::cli
