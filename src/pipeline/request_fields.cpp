// The request fields and their rules: the one place a field is described.
#include "soragen/request_fields.h"

#include <algorithm>
#include <cmath>

namespace soragen {
namespace {

std::string frames_rule(const int& frames) {
  // The VAE compresses time 4x after a first frame of its own.
  if (frames < 1 || frames > 1001 || (frames - 1) % 4 != 0) {
    return "must be of the form 4k+1 between 1 and 1001 (1, 5, 9, ..., 81)";
  }
  return "";
}

std::string size_rule(const int& pixels) {
  // The VAE downsamples 8x and the DiT patchifies 2x2 on top: 16 pixels per token.
  if (pixels < 16 || pixels > 4096 || pixels % 16 != 0) {
    const int below = std::max(16, pixels / 16 * 16);
    return "must be a multiple of 16 between 16 and 4096 (e.g. " + std::to_string(below) + " or " +
           std::to_string(below + 16) + ")";
  }
  return "";
}

std::string fps_rule(const double& fps) {
  return fps > 0 && fps <= 240 ? "" : "must be above 0 and at most 240";
}

std::string steps_rule(const int& steps) {
  return steps >= 1 && steps <= 1000 ? "" : "must be between 1 and 1000";
}

std::string guidance_rule(const double& guidance) {
  return std::isfinite(guidance) && guidance >= 0 && guidance <= 100 ? "" : "must be between 0 and 100";
}

std::string shift_rule(const double& shift) {
  return std::isfinite(shift) && shift > 0 && shift <= 100 ? "" : "must be above 0 and at most 100";
}

std::string sampler_rule(const std::string& sampler) {
  for (const char* name : kSamplerNames) {
    if (sampler == name) return "";
  }
  return "expected unipc, dpm++ or euler";
}

std::string image_rule(const std::string& path) {
  // The file itself is read before any weight loads (its own error names it).
  return path.empty() ? "must name an image file" : "";
}

using R = GenerationRequest;
using D = GenerationDefaults;
using V = ResolvedRequest;

}  // namespace

const std::vector<AnyRequestField>& request_fields() {
  static const std::vector<AnyRequestField> fields = {
      RequestField<std::string>{"negative_prompt", "-n,--negative-prompt", "--negative-prompt",
                                "What the video must not show [default: model's]", "Prompt", &R::negative_prompt,
                                &D::negative_prompt, &V::negative_prompt, nullptr},
      RequestField<int>{"frames", "--frames", "--frames", "Number of frames, 4k+1 (e.g. 17, 81) [default: model]",
                        "Video", &R::frames, &D::frames, &V::frames, frames_rule},
      RequestField<int>{"width", "--width", "--width", "Width in pixels, a multiple of 16 [default: model]", "Video",
                        &R::width, &D::width, &V::width, size_rule},
      RequestField<int>{"height", "--height", "--height", "Height in pixels, a multiple of 16 [default: model]",
                        "Video", &R::height, &D::height, &V::height, size_rule},
      RequestField<double>{"fps", "--fps", "--fps", "Frames per second of the file [default: model]", "Video",
                           &R::fps, &D::fps, &V::fps, fps_rule},
      RequestField<int>{"steps", "--steps", "--steps", "Denoising steps [default: model]", "Sampling", &R::steps,
                        &D::steps, &V::steps, steps_rule},
      RequestField<double>{"guidance", "--guidance", "--guidance", "Classifier-free guidance scale [default: model]",
                           "Sampling", &R::guidance, &D::guidance, &V::guidance, guidance_rule},
      RequestField<double>{"guidance_high", "--guidance-high", "--guidance-high",
                           "Guidance scale of the high-noise expert of a two-expert model (Wan2.2 A14B); "
                           "--guidance alone sets both, as the reference's plain float does [default: model's]",
                           "Sampling", &R::guidance_high, &D::guidance_high, &V::guidance_high, guidance_rule},
      RequestField<double>{"shift", "--shift", "--shift", "Flow-matching sigma shift [default: model]", "Sampling",
                           &R::shift, &D::shift, &V::shift, shift_rule},
      RequestField<std::string>{"sampler", "--sampler", "--sampler", "unipc, dpm++ or euler [default: model]",
                                "Sampling", &R::sampler, &D::sampler, &V::sampler, sampler_rule},
      RequestField<std::uint64_t>{"seed", "--seed", "--seed", "Noise seed; random when not given, and always logged",
                                  "Sampling", &R::seed, nullptr, &V::seed, nullptr},
      RequestField<std::string>{"image", "--image", "--image",
                                "First frame, a PNG, JPEG or WebP file (TI2V-5B, I2V-A14B). The video takes the "
                                "image's aspect ratio within --width x --height pixels",
                                "Image to video", &R::image, nullptr, &V::image, image_rule},
      RequestField<std::string>{"last_image", "--last-image", "--last-image",
                                "Last frame, with --image (I2V-A14B): a first-and-last-frame video",
                                "Image to video", &R::last_image, nullptr, &V::last_image, image_rule},
  };
  return fields;
}

const AnyRequestField* find_request_field(const std::string& key) {
  for (const AnyRequestField& field : request_fields()) {
    const char* field_key = std::visit([](const auto& f) { return f.key; }, field);
    if (key == field_key) return &field;
  }
  return nullptr;
}

namespace {

std::string shown(const std::string& value) { return "'" + value + "'"; }
template <typename T>
std::string shown(const T& value) {
  return std::to_string(value);
}

}  // namespace

template <typename T>
std::string request_field_error(const RequestField<T>& field, const T& value) {
  if (!field.rule) return "";
  const std::string problem = field.rule(value);
  return problem.empty() ? "" : std::string(field.flag) + " " + shown(value) + ": " + problem;
}

template std::string request_field_error(const RequestField<int>&, const int&);
template std::string request_field_error(const RequestField<double>&, const double&);
template std::string request_field_error(const RequestField<std::string>&, const std::string&);
template std::string request_field_error(const RequestField<std::uint64_t>&, const std::uint64_t&);

}  // namespace soragen
