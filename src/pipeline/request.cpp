// Rules and defaults of a generation request.
#include <cmath>
#include <random>
#include <string>

#include "soragen/error.h"
#include "soragen/options.h"

namespace soragen {
namespace {

bool is_blank(const std::string& text) {
  return text.find_first_not_of(" \t\r\n\f\v") == std::string::npos;
}

void check_size(const char* flag, int value) {
  // The VAE downsamples 8x and the DiT patchifies 2x2 on top: 16 pixels per token.
  if (value < 16 || value > 4096 || value % 16 != 0) {
    const int below = std::max(16, value / 16 * 16);
    throw UsageError(std::string(flag) + " " + std::to_string(value) +
                     ": must be a multiple of 16 between 16 and 4096 (e.g. " + std::to_string(below) +
                     " or " + std::to_string(below + 16) + ")");
  }
}

}  // namespace

void validate_request(const GenerationRequest& request) {
  if (is_blank(request.prompt)) throw UsageError("--prompt: must not be empty");
  if (request.frames) {
    const int frames = *request.frames;
    // The VAE compresses time 4x after a first frame of its own.
    if (frames < 1 || frames > 1001 || (frames - 1) % 4 != 0) {
      throw UsageError("--frames " + std::to_string(frames) +
                       ": must be of the form 4k+1 between 1 and 1001 (1, 5, 9, ..., 81)");
    }
  }
  if (request.width) check_size("--width", *request.width);
  if (request.height) check_size("--height", *request.height);
  if (request.fps && !(*request.fps > 0 && *request.fps <= 240)) {
    throw UsageError("--fps " + std::to_string(*request.fps) + ": must be above 0 and at most 240");
  }
  if (request.steps && (*request.steps < 1 || *request.steps > 1000)) {
    throw UsageError("--steps " + std::to_string(*request.steps) + ": must be between 1 and 1000");
  }
  if (request.guidance && !(std::isfinite(*request.guidance) && *request.guidance >= 0 && *request.guidance <= 100)) {
    throw UsageError("--guidance " + std::to_string(*request.guidance) + ": must be between 0 and 100");
  }
  if (request.shift && !(std::isfinite(*request.shift) && *request.shift > 0 && *request.shift <= 100)) {
    throw UsageError("--shift " + std::to_string(*request.shift) + ": must be above 0 and at most 100");
  }
  if (request.sampler) {
    bool known = false;
    for (const char* name : kSamplerNames) known = known || *request.sampler == name;
    if (!known) throw UsageError("--sampler '" + *request.sampler + "': expected unipc, dpm++ or euler");
  }
}

ResolvedRequest resolve_request(const GenerationRequest& request, const GenerationDefaults& defaults) {
  validate_request(request);
  ResolvedRequest out;
  out.prompt = request.prompt;
  out.negative_prompt = request.negative_prompt.value_or(defaults.negative_prompt);
  out.frames = request.frames.value_or(defaults.frames);
  out.width = request.width.value_or(defaults.width);
  out.height = request.height.value_or(defaults.height);
  out.fps = request.fps.value_or(defaults.fps);
  out.steps = request.steps.value_or(defaults.steps);
  out.guidance = request.guidance.value_or(defaults.guidance);
  out.shift = request.shift.value_or(defaults.shift);
  out.sampler = request.sampler.value_or(defaults.sampler);
  if (request.seed) {
    out.seed = *request.seed;
  } else {
    // 32 bits keep a logged seed short enough to retype.
    std::random_device entropy;
    out.seed = entropy();
  }
  return out;
}

}  // namespace soragen
