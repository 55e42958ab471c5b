// A --prompt-file (plain lines and JSON Lines) on arbitrary bytes. Bad lines
// become PromptLineErrors; only the item-count limit may throw.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "cli/batch.h"
#include "soragen/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  soragen::GenerationRequest base;
  base.frames = 17;
  try {
    (void)soragen::cli::parse_prompt_file(in, base);
  } catch (const soragen::UsageError&) {
  }
  return 0;
}
