#include "pipeline/model_inputs.h"

#include <cstdio>
#include <string>

#include "core/parse_rule.h"
#include "dit/lora.h"
#include "dit/step_cache_factory.h"
#include "io/tensor_source.h"
#include "pipeline/model_family.h"
#include "soragen/error.h"
#include "pipeline/clip_request.h"
#include "pipeline/conditioning.h"
#include "pipeline/preview.h"
#include "sampling/guidance_method.h"
#include "video/image_fit.h"
#include "video/image_reader.h"
#include "video/video_reader.h"

namespace soragen {
namespace pipeline {
namespace {

// The public TAEHV decoder trained on this VAE's latents (taehv's README:
// taew2_1 for the Wan2.1 VAE of Wan2.1 and Wan2.2 A14B, taew2_2 for TI2V-5B's
// Wan2.2 VAE); "" for another VAE, such as the embedded default's, whose
// latents are its own.
std::string public_preview_decoder(const AnyVaeConfig& config) {
  if (const auto* wan22 = std::get_if<vae::Vae22Config>(&config)) {
    const vae::Vae22Config reference;
    const bool same = wan22->common.dim == reference.common.dim && wan22->common.z_dim == reference.common.z_dim &&
                      wan22->dec_dim == reference.dec_dim && wan22->common.dim_mult == reference.common.dim_mult;
    return same ? "taew2_2" : "";
  }
  const vae::VaeConfig& wan21 = std::get<vae::VaeConfig>(config);
  const vae::VaeConfig reference;  // the defaults are the Wan2.1 VAE's architecture
  const bool same = wan21.dim == reference.dim && wan21.z_dim == reference.z_dim &&
                    wan21.dim_mult == reference.dim_mult && wan21.num_res_blocks == reference.num_res_blocks;
  return same ? "taew2_1" : "";
}

}  // namespace

ModelInputs model_inputs(const ModelFiles& files) {
  ModelInputs inputs;
  inputs.kind = files.dit_config.model_type;
  inputs.image = inputs.kind == "ti2v" || inputs.kind == "i2v";
  inputs.needs_image = inputs.kind == "i2v";
  // Only the I2V-A14B conditioning has a place for a last frame (the mask
  // and the encoded video of Wan2.1's first_last_frame2video.py).
  inputs.last_image = inputs.kind == "i2v";
  inputs.two_experts = files.two_experts();
  inputs.vae_tile = std::holds_alternative<vae::VaeConfig>(files.vae_config);
  inputs.vae_stride = static_cast<int>(vae_spatial_factor(files.vae_config));
  inputs.vae_temporal = static_cast<int>(vae_temporal_factor(files.vae_config));
  inputs.patch = static_cast<int>(files.dit_config.patch_size[1]);
  inputs.size_multiple = inputs.vae_stride * inputs.patch;
  inputs.dit_blocks = static_cast<int>(files.dit_config.num_layers);
  const dit::StepCacheTables tables = step_cache_tables(files);
  inputs.step_cache_model = tables.model;
  inputs.teacache = tables.teacache.has_value();
  inputs.magcache = tables.magcache.has_value();
  inputs.preview_decoder = !files.preview_decoder.empty();
  inputs.public_preview_decoder = public_preview_decoder(files.vae_config);
  return inputs;
}

void check_resolved_for_model(const ResolvedRequest& request, const ModelInputs& inputs, bool vae_tile) {
  const std::string model = inputs.kind == "t2v" ? "this text-to-video model" : "this " + inputs.kind + " model";
  if (!request.image.empty() && !inputs.image) {
    throw UsageError("--image '" + request.image + "': " + model +
                     " takes no image (Wan2.2 TI2V-5B and I2V-A14B do)");
  }
  // The field's rule parsed the method; only the model knows its block count.
  const sampling::GuidanceMethod method =
      core::parse_flag(sampling::parse_guidance_method, "--guidance-method", request.guidance_method);
  for (const int layer : method.slg.layers) {
    if (layer >= inputs.dit_blocks) {
      throw UsageError("--guidance-method " + request.guidance_method + ": block " + std::to_string(layer) +
                       " to skip; this model's DiT has blocks 0.." + std::to_string(inputs.dit_blocks - 1));
    }
  }
  // TeaCache and MagCache need the model's tables.
  dit::StepCacheTables tables;
  tables.model = inputs.step_cache_model;
  if (inputs.teacache) tables.teacache = dit::TeaCacheTable{};
  if (inputs.magcache) tables.magcache = dit::MagCacheTable{};
  dit::check_step_cache_for_model(request.cache, tables);
  // Before the image rules: a clip may give the first frame instead.
  const ClipPlan plan = plan_clip_request(request, inputs);
  const bool clip_gives_frames = plan.mode != ClipMode::text && plan.mode != ClipMode::loop;
  if (request.image.empty() && inputs.needs_image && !clip_gives_frames) {
    throw UsageError("--image: required, " + model + " renders from a first frame");
  }
  if (!request.last_image.empty()) {
    if (request.image.empty()) throw UsageError("--last-image '" + request.last_image + "': needs --image too");
    if (!inputs.last_image) {
      throw UsageError("--last-image '" + request.last_image + "': " + model +
                       " takes a first frame only (Wan2.2 I2V-A14B takes a last one)");
    }
    if (request.frames < 5) {
      throw UsageError("--frames " + std::to_string(request.frames) +
                       ": a first-and-last-frame video needs at least 5 frames");
    }
  }
  if (vae_tile && !inputs.vae_tile) {
    throw UsageError("--vae-tile: the Wan2.2 VAE of " + model + " decodes untiled only");
  }
  if ((!request.preview.empty() || request.fast_decode) && !inputs.preview_decoder) {
    const std::string flag = request.preview.empty() ? "--fast-decode" : "--preview '" + request.preview + "'";
    const std::string fits =
        inputs.public_preview_decoder.empty()
            ? "no public one fits its VAE (soragen-train taehv trains one for the embedded default)"
            : "the public " + inputs.public_preview_decoder + " (github.com/madebyollin/taehv) fits its VAE";
    throw UsageError(flag + ": " + model + " has no preview decoder; pass --preview-decoder FILE: " + fits);
  }
  // With an image the size is a pixel budget; the frame follows the image.
  if (request.image.empty() &&
      (request.width % inputs.size_multiple != 0 || request.height % inputs.size_multiple != 0)) {
    throw UsageError("--width/--height " + std::to_string(request.width) + "x" + std::to_string(request.height) +
                     ": " + model + " needs multiples of " + std::to_string(inputs.size_multiple) + " (e.g. " +
                     std::to_string(request.width / inputs.size_multiple * inputs.size_multiple) + "x" +
                     std::to_string(request.height / inputs.size_multiple * inputs.size_multiple) + ")");
  }
}

}  // namespace pipeline

ModelInfo inspect_model(const ModelSpec& spec) {
  ModelInfo info;
  info.source = resolve_model(spec);
  const pipeline::ModelFiles files = pipeline::locate_model_files(info.source);
  info.defaults = files.defaults;
  info.inputs = pipeline::model_inputs(files);
  return info;
}

void check_request_for_model(const GenerationRequest& asked, const ResolvedRequest& request,
                             const ModelInputs& inputs, bool vae_tile) {
  pipeline::check_resolved_for_model(request, inputs, vae_tile);
  if (asked.guidance_high && !inputs.two_experts) {
    char value[32];
    std::snprintf(value, sizeof value, "%g", *asked.guidance_high);
    throw UsageError(std::string("--guidance-high ") + value +
                     ": this model has one DiT; --guidance sets its scale");
  }
  // Each LoRA file's header is read now: a missing or corrupt one fails
  // before any weight loads (its tensors are checked as it merges).
  for (const std::string& text : request.lora) {
    io::open_weights(dit::parse_lora_spec(text, inputs.two_experts).path);
  }
  if (asked.strength && request.video.empty()) {
    throw UsageError("--strength: needs --video FILE (the clip to re-render)");
  }
  if (asked.preview_every && request.preview.empty()) {
    throw UsageError("--preview-every " + std::to_string(request.preview_every) + ": needs --preview FILE");
  }
  if (!request.preview.empty()) pipeline::check_preview_target(request.preview);
  // Each clip is decoded whole now (keeping a few frames), so a missing,
  // corrupt or short one fails before any weight loads.
  const int64_t context = request.overlap;
  video::VideoReadOptions few;
  few.max_frames = 1;
  if (!request.video.empty()) video::read_video(request.video, "--video", few);
  if (!request.extend.empty()) {
    pipeline::check_clip_length(video::read_video(request.extend, "--extend", few).total_frames, context, "--extend",
                                request.extend);
  }
  for (const std::string& clip : request.connect) {
    pipeline::check_clip_length(video::read_video(clip, "--connect", few).total_frames, context, "--connect", clip);
  }
  if (!request.last_image.empty()) video::read_image(request.last_image, "--last-image");
  if (request.image.empty()) return;
  const video::RgbImage image = video::read_image(request.image, "--image");
  // The frame the image gives within the pixel budget, as generate will
  // choose it: a budget too small for one block fails now, not after the
  // text encoder ran.
  const int64_t area = static_cast<int64_t>(request.width) * request.height;
  try {
    if (inputs.kind == "ti2v") {
      video::best_output_size(image.width, image.height, inputs.size_multiple, inputs.size_multiple, area);
    } else {
      pipeline::i2v_latent_size(image.height, image.width, area, inputs.vae_stride, inputs.patch);
    }
  } catch (const UsageError& e) {
    throw UsageError("--image '" + request.image + "' in --width x --height " + std::to_string(request.width) + "x" +
                     std::to_string(request.height) + ": " + e.what());
  }
}

}  // namespace soragen
