// Batch prompt files (--prompt-file) and the loop that renders their items.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <istream>
#include <optional>
#include <string>
#include <vector>

#include "soragen/log.h"
#include "soragen/options.h"

namespace soragen::cli {

// One line of a prompt file that asks for a video.
struct PromptItem {
  int line = 0;                       // 1-based line number in the file
  GenerationRequest request;          // command-line flags with the line's overrides
  std::optional<std::string> output;  // per-item "output", else from the -o pattern
};

// A line that could not be understood; the batch goes on without it.
struct PromptLineError {
  int line = 0;
  std::string message;
};

struct PromptFile {
  std::vector<PromptItem> items;
  std::vector<PromptLineError> errors;
};

// Bounds that keep a hostile or mistaken file (a video passed as a prompt
// file) from costing memory: a prompt is at most a few KB.
constexpr std::size_t kMaxPromptLineBytes = 1u << 20;
constexpr std::size_t kMaxPromptFileItems = 100000;

// Plain lines are prompts; lines starting with '{' are JSON objects with
// "prompt" and optional overrides (negative_prompt, seed, frames, width,
// height, fps, steps, guidance, shift, sampler, output). Blank lines and lines
// starting with '#' are skipped. `base` holds the command line's values.
// A line over kMaxPromptLineBytes is an error of its own; more than
// kMaxPromptFileItems items and errors together throw UsageError.
PromptFile parse_prompt_file(std::istream& in, const GenerationRequest& base);

// Reads `path` ("-" for stdin). Throws UsageError naming the file when it
// cannot be read or is not UTF-8 text.
PromptFile read_prompt_file(const std::string& path, const GenerationRequest& base);

// Lower-case ASCII words joined by '-', at most 48 characters; "video" when
// nothing is left (e.g. a prompt in Chinese).
std::string slugify(const std::string& prompt);

// Expands {index}, {index:0N}, {slug}, {seed} and {line} in an -o pattern.
// Throws UsageError for an unknown or malformed placeholder.
std::string expand_output_pattern(const std::string& pattern, int index, int line,
                                  const std::string& prompt, std::uint64_t seed);

// True when the pattern has a placeholder that differs between items.
bool pattern_names_items(const std::string& pattern);

// A fully decided item of a batch.
struct BatchJob {
  int index = 0;  // 1-based position among the file's items
  int line = 0;   // 0 for a --prompt given on the command line
  ResolvedRequest request;
  std::filesystem::path output;
};

struct BatchSummary {
  int ok = 0;
  int failed = 0;
  int skipped = 0;
  double seconds = 0;
};

// Renders one job and writes its output; throws soragen::Error on failure.
using RenderJob = std::function<void(const BatchJob&)>;

// Runs the jobs in order. A failing job is logged with its line number and the
// batch goes on; InterruptedError (or `cancel` being set) stops the batch and
// propagates. With skip_existing, jobs whose output exists are not rendered.
BatchSummary run_batch(const std::vector<BatchJob>& jobs, bool skip_existing, const RenderJob& render,
                       const std::atomic<bool>* cancel, const Logger& logger);

}  // namespace soragen::cli
