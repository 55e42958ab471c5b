// The request fields and their rules: the one place a field is described.
#include "soragen/request_fields.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

#include "dit/step_cache.h"
#include "dit/lora.h"
#include "sampling/guidance_method.h"

namespace soragen {
namespace {

std::string frames_rule(const int& frames) {
  // The VAE compresses time 4x after a first frame of its own. Past the
  // model's window a video is made in windows, so the bound is a minute and
  // more at any model's fps (2 min 47 s at 24 fps).
  if (frames < 1 || frames > 4001 || (frames - 1) % 4 != 0) {
    return "must be of the form 4k+1 between 1 and 4001 (1, 5, 9, ..., 81)";
  }
  return "";
}

std::string window_rule(const int& frames) {
  if (frames < 5 || frames > 1001 || (frames - 1) % 4 != 0) {
    return "must be of the form 4k+1 between 5 and 1001 (5, 9, ..., 81)";
  }
  return "";
}

std::string overlap_rule(const int& frames) {
  if (frames < 1 || frames > 997 || (frames - 1) % 4 != 0) {
    return "must be of the form 4k+1 between 1 and 997 (1, 5, 9, ...)";
  }
  return "";
}

std::string strength_rule(const double& strength) {
  return std::isfinite(strength) && strength >= 0 && strength <= 1 ? "" : "must be between 0 and 1";
}

std::string clip_rule(const std::string& path) { return path.empty() ? "must name a video file" : ""; }

std::string connect_rule(const std::vector<std::string>& paths) {
  if (paths.size() != 2) return "must name two video files, A then B";
  for (const std::string& path : paths) {
    if (path.empty()) return "must name two video files, A then B";
  }
  return "";
}

std::string lora_rule(const std::vector<std::string>& specs) {
  for (const std::string& spec : specs) {
    const std::string error = dit::lora_spec_error(spec);
    // The error names the flag and the value already; the rule gives the reason.
    if (!error.empty()) return error.substr(error.find("': ") + 3);
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

std::string guidance_method_rule(const std::string& method) { return sampling::guidance_method_error(method); }

std::string cache_rule(const std::string& cache) { return dit::step_cache_error(cache); }

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The main output's convention (soragen/output.h output_format_for): a name
// ending in '/' is a folder of PNG frames, anything else must be an MP4.
std::string preview_rule(const std::string& path) {
  std::string lower = path;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (path.empty() || (!ends_with(lower, ".mp4") && !ends_with(path, "/"))) {
    return "must name an .mp4 file, or a folder ending in '/' for PNG frames";
  }
  return "";
}

std::string preview_every_rule(const int& steps) {
  return steps >= 1 && steps <= 1000 ? "" : "must be between 1 and 1000";
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
      RequestField<std::string>{"guidance_method", "--guidance-method", "--guidance-method",
                                "cfg; cfg-zero-star (CFG-Zero*: the unconditional prediction scaled by its best "
                                "fit to the conditional one, and a zero first step); "
                                "apg[:eta=0,momentum=-0.5,norm=0] (adaptive projected guidance on the denoised "
                                "prediction; norm caps the update's L2 norm over the sample, 0: no cap); "
                                "slg[:layers=9,start=0.1,end=0.9] (skip-layer guidance as Wan users run it: the "
                                "unconditional pass skips DiT blocks 9 [+...] from 10% to 90% of the steps); "
                                "slg-sd35[:layers=7+8+9,scale=2.5,start=0.01,end=0.2] (SD3.5's: a third, "
                                "conditional pass with the blocks skipped, weighted by scale) [default: cfg]",
                                "Sampling", &R::guidance_method, &D::guidance_method, &V::guidance_method,
                                guidance_method_rule},
      RequestField<std::uint64_t>{"seed", "--seed", "--seed", "Noise seed; random when not given, and always logged",
                                  "Sampling", &R::seed, nullptr, &V::seed, nullptr},
      RequestField<std::string>{"cache", "--cache", "--cache",
                                "Step caching, which reuses DiT blocks' residual from an earlier step: none; "
                                "fbcache[:THRESHOLD] (First-Block Cache: when the first block's residual changed "
                                "by less than THRESHOLD, relative, since the last full step; default 0.1); "
                                "teacache[:THRESHOLD] (TeaCache: the timestep embedding's rescaled change, "
                                "accumulated; Wan2.1 T2V); magcache[:THRESHOLD][,k=K][,retention=R] (MagCache: "
                                "the model's residual magnitude ratios, accumulated; Wan2.1 T2V and Wan2.2). "
                                "teacache and magcache take their defaults from the model's published tables "
                                "[default: none]",
                                "Sampling", &R::cache, nullptr, &V::cache, cache_rule},
      RequestField<std::string>{"image", "--image", "--image",
                                "First frame, a PNG, JPEG or WebP file (TI2V-5B, I2V-A14B). The video takes the "
                                "image's aspect ratio within --width x --height pixels",
                                "Image to video", &R::image, nullptr, &V::image, image_rule},
      RequestField<std::string>{"last_image", "--last-image", "--last-image",
                                "Last frame, with --image (I2V-A14B): a first-and-last-frame video",
                                "Image to video", &R::last_image, nullptr, &V::last_image, image_rule},
      RequestField<std::string>{"video", "--video", "--video",
                                "Video to video: re-render this clip (MP4, WebM, MOV) from the prompt; its "
                                "first --frames frames, fitted to --width x --height",
                                "Clips", &R::video, nullptr, &V::video, clip_rule},
      RequestField<double>{"strength", "--strength", "--strength",
                           "With --video: the share of the denoising steps that run from the noised clip; 0 "
                           "returns the clip as it went through the VAE, 1 is text to video [default: 0.7]",
                           "Clips", &R::strength, nullptr, &V::strength, strength_rule},
      RequestField<std::string>{"extend", "--extend", "--extend",
                                "Continue this clip: the output is the clip then --frames new frames, the new "
                                "ones conditioned on its last --overlap frames",
                                "Clips", &R::extend, nullptr, &V::extend, clip_rule},
      RequestField<bool>{"backward", "--backward", "--backward",
                         "With --extend: make the --frames that come before the clip instead", "Clips",
                         &R::backward, nullptr, &V::backward, nullptr},
      RequestField<std::vector<std::string>>{"connect", "--connect", "--connect",
                                             "Two clips A B: writes A, a transition of --frames frames from A's "
                                             "end to B's start, then B",
                                             "Clips", &R::connect, nullptr, &V::connect, connect_rule, 2},
      RequestField<bool>{"loop", "--loop", "--loop",
                         "A seamless loop: the clip, then a transition of about --overlap + 2 frames back into "
                         "its first frame",
                         "Clips", &R::loop, nullptr, &V::loop, nullptr},
      RequestField<int>{"window", "--window", "--window",
                        "Frames a long video renders at once; --frames above it are made as overlapping windows "
                        "[default: model's frames]",
                        "Long videos", &R::window, &D::window, &V::window, window_rule},
      RequestField<int>{"overlap", "--overlap", "--overlap",
                        "Frames of context each window (and --extend, --connect, --loop) takes from the clip "
                        "it continues, 4k+1 [default: 5]",
                        "Long videos", &R::overlap, nullptr, &V::overlap, overlap_rule},
      RequestField<bool>{"color_correct", "--color-correct", "--color-correct",
                         "Shift each window's per-channel colour mean to the first window's (corrects drift in "
                         "long videos)",
                         "Long videos", &R::color_correct, nullptr, &V::color_correct, nullptr},
      RequestField<std::vector<std::string>>{"lora", "--lora", "--lora",
                                             "A LoRA merged into the DiT, FILE[:SCALE[:high|low|both]] (scale 1; "
                                             "high/low: one expert of a Wan2.2 A14B model); repeatable",
                                             "LoRA", &R::lora, nullptr, &V::lora, lora_rule, 0},
      RequestField<std::string>{"preview", "--preview", "--preview",
                                "While denoising, write what the video looks like so far (the tiny preview "
                                "decoder's frames of the denoised estimate) to this .mp4, or to a folder ending in "
                                "'/' as PNG frames; replaced every --preview-every steps and at the end",
                                "Preview", &R::preview, nullptr, &V::preview, preview_rule},
      RequestField<int>{"preview_every", "--preview-every", "--preview-every",
                        "Denoising steps between --preview updates [default: 5]", "Preview", &R::preview_every,
                        nullptr, &V::preview_every, preview_every_rule},
      RequestField<bool>{"fast_decode", "--fast-decode", "--fast-decode",
                         "Decode the final video with the tiny preview decoder instead of the VAE: much faster, "
                         "less detail",
                         "Preview", &R::fast_decode, nullptr, &V::fast_decode, nullptr},
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
std::string shown(const bool& value) { return value ? "true" : "false"; }
// As the user typed it, not std::to_string's "1.500000".
std::string shown(const double& value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}
std::string shown(const std::vector<std::string>& values) {
  std::string out;
  for (const std::string& value : values) out += (out.empty() ? "" : " ") + shown(value);
  return out;
}
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
template std::string request_field_error(const RequestField<bool>&, const bool&);
template std::string request_field_error(const RequestField<std::vector<std::string>>&,
                                         const std::vector<std::string>&);

}  // namespace soragen
