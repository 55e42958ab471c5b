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
  std::string device = "auto";
  std::string dtype = "auto";
  int threads = 0;
  std::string text_encoder_device = "auto";
  bool offload = false;
  bool vae_tile = false;

  // The request fields of soragen/request_fields.h, set only by the flags
  // given on the command line.
  GenerationRequest request;

  int verbosity = 0;  // -v count
  bool quiet = false;
};

// Registers every flag on `app`, bound to `options`.
void add_options(CLI::App& app, CliOptions& options);

// The generation request the flags ask for: only flags given on the command
// line are set, the rest stay unset and take the model's defaults.
GenerationRequest request_from_flags(const CliOptions& options);

// Exit codes and examples, shown at the end of --help.
extern const char* const kHelpFooter;

}  // namespace soragen::cli
