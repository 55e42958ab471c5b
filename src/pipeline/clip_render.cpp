#include "pipeline/clip_render.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string>

#include "pipeline/clip_plan.h"
#include "pipeline/clip_request.h"
#include "pipeline/conditioning.h"
#include "soragen/error.h"
#include "vae/frames.h"
#include "video/image_fit.h"
#include "video/image_reader.h"
#include "video/video_reader.h"

namespace soragen::pipeline {
namespace {

at::Tensor rgb_tensor(const video::RgbImage& image) {
  return at::from_blob(const_cast<std::uint8_t*>(image.pixels.data()), {image.height, image.width, 3}, at::kByte)
      .clone();
}

void append(VideoFrames& out, const VideoFrames& more, int64_t first, int64_t count) {
  if (count <= 0) return;
  if (out.count == 0) {
    out.width = more.width;
    out.height = more.height;
  }
  const std::uint8_t* begin = more.frame(static_cast<int>(first));
  out.rgb.insert(out.rgb.end(), begin, begin + count * more.frame_bytes());
  out.count += static_cast<int>(count);
}

std::string format_drift(const ColourStats& now, const ColourStats& first) {
  double mean = 0;
  double spread = 0;
  for (int c = 0; c < 3; ++c) {
    mean = std::max(mean, std::abs(now.mean[c] - first.mean[c]));
    spread = std::max(spread, std::abs(now.std[c] / std::max(first.std[c], 1e-6) - 1.0));
  }
  char text[96];
  std::snprintf(text, sizeof text, "mean off by %.4f, spread by %.1f%%", mean, spread * 100);
  return text;
}

class Renderer {
 public:
  Renderer(const ResolvedRequest& request, RenderSetup& setup)
      : request_(request),
        setup_(setup),
        gen_(setup.generator),
        plan_(plan_clip_request(request, setup.inputs)) {}

  VideoFrames run() {
    windows_ = static_cast<int>(plan_.windows);
    switch (plan_.mode) {
      case ClipMode::text: return text_or_image(request_.frames);
      case ClipMode::video_to_video: return video_to_video();
      case ClipMode::extend_forward: return extend_forward();
      case ClipMode::extend_backward: return extend_backward();
      case ClipMode::connect: return connect();
      case ClipMode::loop: return loop();
    }
    throw InternalError("clip render: unknown mode");
  }

 private:
  int64_t t() const { return plan_.temporal; }

  void check_cancel(const char* after) const {
    if (setup_.cancel && setup_.cancel->load()) throw InterruptedError(std::string("interrupted after ") + after);
  }

  // A clip's frames, fitted to the request's frame by LANCZOS cover and
  // centre crop. `keep` as read_video's options.
  VideoFrames read_clip(const std::string& path, const std::string& flag, const video::VideoReadOptions& keep,
                        int width, int height) {
    setup_.report(Stage::encode_clip, 0, 1, 1, 1);
    const video::RgbVideo clip = video::read_video(path, flag, keep);
    VideoFrames out(width, height, static_cast<int>(clip.frames.size()));
    for (std::size_t i = 0; i < clip.frames.size(); ++i) {
      const video::RgbImage fitted = video::cover_and_center_crop(clip.frames[i], width, height);
      std::copy(fitted.pixels.begin(), fitted.pixels.end(), out.frame(static_cast<int>(i)));
    }
    setup_.logger.info(flag + " '" + path + "': " + std::to_string(clip.total_frames) + " frames of " +
                       std::to_string(clip.width) + "x" + std::to_string(clip.height) + ", fitted to " +
                       std::to_string(width) + "x" + std::to_string(height));
    setup_.report(Stage::encode_clip, 1, 1, 1, 1);
    return out;
  }

  SamplingSettings settings() const {
    SamplingSettings s;
    s.sampler = request_.sampler;
    s.steps = request_.steps;
    s.shift = request_.shift;
    s.guidance = request_.guidance;
    s.guidance_method = request_.guidance_method;
    s.cache = request_.cache;
    if (setup_.inputs.two_experts) s.guidance_high = request_.guidance_high;
    return s;
  }

  // Denoises one window and decodes it: [3, frames, H, W] float on the CPU.
  at::Tensor denoise_and_decode(const std::array<int64_t, 4>& shape, Conditioning conditioning) {
    const int window = window_index_ + 1;
    // Each window draws its own noise from the seed and its index, so a
    // render repeats exactly.
    const at::Tensor noise = gen_.initial_noise(request_.seed + static_cast<std::uint64_t>(window_index_), shape);
    const int steps = request_.steps - conditioning.start_step;
    setup_.report(Stage::denoise, 0, std::max(steps, 1), window, windows_);
    DenoisedPreview preview;
    if (setup_.preview) {
      preview.every = request_.preview_every;
      preview.show = [&](const at::Tensor& x0, int step, int total) {
        setup_.preview(x0, step, total, window, windows_);
      };
    }
    const at::Tensor latent = gen_.denoise(
        noise, setup_.context, setup_.context_null, settings(),
        [&](int step, int total) { setup_.report(Stage::denoise, step, total, window, windows_); }, setup_.cancel,
        nullptr, conditioning, preview);
    if (steps == 0) setup_.report(Stage::denoise, 1, 1, window, windows_);
    const VideoGenerator::CacheCount cached = gen_.last_cache_count();
    if (cached.passes > 0) {
      setup_.logger.info("--cache " + request_.cache + ": " + std::to_string(cached.reused) + " of " +
                         std::to_string(cached.passes) + " DiT passes reused the cached residual");
    }
    setup_.report(Stage::decode, 0, 1, window, windows_);
    const at::Tensor video = request_.fast_decode ? gen_.decode_fast(latent) : gen_.decode(latent, setup_.tiling);
    setup_.report(Stage::decode, 1, 1, window, windows_);
    ++window_index_;
    return video;
  }

  // One window with known frames at its start (`head`, [3, c, H, W]) and/or
  // its end (`tail`, the context the window leads into).
  at::Tensor render_window(const WindowLayout& layout, const at::Tensor& head, const at::Tensor& tail, int64_t height,
                           int64_t width) {
    const std::array<int64_t, 4> shape = gen_.latent_shape(static_cast<int>(layout.frames(t())),
                                                           static_cast<int>(height), static_cast<int>(width));
    const int64_t latents = shape[1];
    Conditioning conditioning;
    const at::TensorOptions options = at::TensorOptions().dtype(at::kFloat).device(gen_.device());
    at::Tensor known = at::zeros({shape[0], shape[1], shape[2], shape[3]}, options);
    at::Tensor mask = at::zeros({1, latents, 1, 1}, options);
    setup_.report(Stage::encode_clip, 0, 1, window_index_ + 1, windows_);
    if (layout.head > 0) {
      const at::Tensor latent = gen_.encode_video(head);
      if (latent.size(1) != layout.head) throw InternalError("clip render: head context of the wrong length");
      known.narrow(1, 0, layout.head).copy_(latent);
      mask.narrow(1, 0, layout.head).fill_(1);
    }
    if (layout.tail > 0) {
      // The context's groups after its frame 0 (clip_plan.h).
      const at::Tensor latent = gen_.encode_video(tail);
      if (latent.size(1) != layout.tail + 1) throw InternalError("clip render: tail context of the wrong length");
      known.narrow(1, latents - layout.tail, layout.tail).copy_(latent.narrow(1, 1, layout.tail));
      mask.narrow(1, latents - layout.tail, layout.tail).fill_(1);
    }
    conditioning.known = known;
    conditioning.known_mask = mask;
    if (setup_.inputs.kind == "i2v") {
      // The window's first frame (and with a tail its last) as the images of y.
      if (layout.head == 0) throw InternalError("clip render: I2V needs a first frame");
      std::optional<at::Tensor> last;
      if (layout.tail > 0) last = vae::to_channels_last_bytes(tail.select(1, tail.size(1) - 1));
      conditioning.y =
          gen_.image_condition(vae::to_channels_last_bytes(head.select(1, 0)), last, layout.frames(t()), width * height).y;
    }
    setup_.report(Stage::encode_clip, 1, 1, window_index_ + 1, windows_);
    check_cancel("clip encoding");
    return denoise_and_decode(shape, std::move(conditioning));
  }

  // The window's new frames, colour-corrected against the first window when
  // asked, appended to `out`; the drift is logged either way.
  void add_new_frames(VideoFrames& out, at::Tensor video) {
    const ColourStats stats = colour_stats(video);
    if (!reference_) {
      reference_ = stats;
    } else {
      setup_.logger.info("window " + std::to_string(window_index_) + "/" + std::to_string(windows_) +
                         ": colour drift against the first window: " + format_drift(stats, *reference_) +
                         (request_.color_correct ? " (corrected)" : ""));
      if (request_.color_correct) video = match_colour(video, stats, *reference_);
    }
    vae::append_video_frames(video, out);
  }

  // Text (or image) to video, in windows past --window frames.
  VideoFrames text_or_image(int64_t frames) {
    const int64_t first = std::min<int64_t>(frames, plan_.window);
    VideoFrames out = first_window(first);
    if (frames > first) extend_after(out, frames - first);
    return out;
  }

  // The first window of a text or image render: the model's plain generate.
  VideoFrames first_window(int64_t frames) {
    Conditioning conditioning;
    std::array<int64_t, 4> shape =
        gen_.latent_shape(static_cast<int>(frames), request_.height, request_.width);
    if (!request_.image.empty()) {
      setup_.report(Stage::encode_image, 0, 1, 1, windows_);
      const int64_t max_area = static_cast<int64_t>(request_.width) * request_.height;
      const video::RgbImage first = video::read_image(request_.image, "--image");
      if (setup_.inputs.kind == "ti2v") {
        // textimage2video.py: best_output_size over blocks of VAE stride x
        // patch, LANCZOS cover and centre crop, the latent held on frame 0.
        const int block = setup_.inputs.size_multiple;
        const auto [width, height] = video::best_output_size(first.width, first.height, block, block, max_area);
        conditioning.first_frame = gen_.first_frame_latent(rgb_tensor(video::cover_and_center_crop(first, width, height)));
        shape = gen_.latent_shape(static_cast<int>(frames), height, width);
      } else {
        std::optional<at::Tensor> last;
        if (!request_.last_image.empty()) {
          last = rgb_tensor(video::read_image(request_.last_image, "--last-image"));
        }
        const auto condition = gen_.image_condition(rgb_tensor(first), last, frames, max_area);
        conditioning.y = condition.y;
        const int64_t stride = gen_.vae().spatial_factor();
        shape = gen_.latent_shape(static_cast<int>(frames), static_cast<int>(condition.lat_h * stride),
                                  static_cast<int>(condition.lat_w * stride));
      }
      const int64_t stride = gen_.vae().spatial_factor();
      setup_.logger.info("image '" + request_.image + "' (" + std::to_string(first.width) + "x" +
                         std::to_string(first.height) + "): a " + std::to_string(shape[3] * stride) + "x" +
                         std::to_string(shape[2] * stride) + " video");
      setup_.report(Stage::encode_image, 1, 1, 1, windows_);
      check_cancel("image encoding");
    }
    VideoFrames out;
    add_new_frames(out, denoise_and_decode(shape, std::move(conditioning)));
    return out;
  }

  // Appends `frames` new frames to `out`, window by window, each continuing
  // the last --overlap frames written.
  void extend_after(VideoFrames& out, int64_t frames) {
    const int64_t context = plan_.context;
    while (frames > 0) {
      const int64_t count = std::min(frames, plan_.new_per_window);
      const WindowLayout layout = forward_window(context, count, t());
      const at::Tensor head = vae::from_video_frames(out, out.count - context, context);
      const at::Tensor video = render_window(layout, head, at::Tensor(), out.height, out.width);
      add_new_frames(out, video.narrow(1, layout.first_new(t()), count));
      frames -= count;
    }
  }

  VideoFrames extend_forward() {
    video::VideoReadOptions keep;  // the whole clip: the output starts with it
    VideoFrames out = read_clip(request_.extend, "--extend", keep, request_.width, request_.height);
    check_clip_length(out.count, plan_.context, "--extend", request_.extend);
    reference_ = colour_stats(vae::from_video_frames(out, std::max<int64_t>(0, out.count - plan_.window),
                                            std::min<int64_t>(out.count, plan_.window)));
    extend_after(out, request_.frames);
    return out;
  }

  // Prepends `frames` new frames, window by window, each leading into the
  // first --overlap frames of what follows it.
  VideoFrames extend_backward() {
    video::VideoReadOptions keep;
    VideoFrames clip = read_clip(request_.extend, "--extend", keep, request_.width, request_.height);
    check_clip_length(clip.count, plan_.context, "--extend", request_.extend);
    reference_ = colour_stats(vae::from_video_frames(clip, 0, std::min<int64_t>(clip.count, plan_.window)));
    const int64_t context = plan_.context;
    std::vector<VideoFrames> parts;  // newest (earliest in time) last
    VideoFrames front = clip;        // what the next window leads into
    int64_t frames = request_.frames;
    while (frames > 0) {
      const int64_t count = std::min(frames, plan_.new_per_window);
      const WindowLayout layout = backward_window(context, count, t());
      const at::Tensor tail = vae::from_video_frames(front, 0, context);
      const at::Tensor video = render_window(layout, at::Tensor(), tail, clip.height, clip.width);
      // The new frames that come right before the tail.
      const int64_t available = layout.new_frames(t());
      VideoFrames part;
      add_new_frames(part, video.narrow(1, layout.first_new(t()) + available - count, count));
      VideoFrames joined = part;
      append(joined, front, 0, std::min<int64_t>(front.count, context));
      front = std::move(joined);
      parts.push_back(std::move(part));
      frames -= count;
    }
    VideoFrames out;
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) append(out, *it, 0, it->count);
    append(out, clip, 0, clip.count);
    return out;
  }

  // The transition from the end of `a` into the start of `b`.
  VideoFrames transition(const VideoFrames& a, const VideoFrames& b, int64_t frames) {
    const int64_t context = plan_.context;
    const WindowLayout layout = connect_window(context, frames, t());
    const at::Tensor head = vae::from_video_frames(a, a.count - context, context);
    const at::Tensor tail = vae::from_video_frames(b, 0, context);
    const at::Tensor video = render_window(layout, head, tail, a.height, a.width);
    VideoFrames out;
    add_new_frames(out, video.narrow(1, layout.first_new(t()), layout.new_frames(t())));
    return out;
  }

  VideoFrames connect() {
    video::VideoReadOptions keep;
    const VideoFrames a = read_clip(request_.connect.at(0), "--connect", keep, request_.width, request_.height);
    const VideoFrames b = read_clip(request_.connect.at(1), "--connect", keep, request_.width, request_.height);
    check_clip_length(a.count, plan_.context, "--connect", request_.connect.at(0));
    check_clip_length(b.count, plan_.context, "--connect", request_.connect.at(1));
    reference_ = colour_stats(vae::from_video_frames(a, std::max<int64_t>(0, a.count - plan_.window),
                                            std::min<int64_t>(a.count, plan_.window)));
    const VideoFrames middle = transition(a, b, request_.frames);
    setup_.logger.info("--connect: a transition of " + std::to_string(middle.count) + " frames");
    VideoFrames out = a;
    append(out, middle, 0, middle.count);
    append(out, b, 0, b.count);
    return out;
  }

  // The clip, then a transition from its end back into its first frame.
  VideoFrames loop() {
    VideoFrames out = text_or_image(request_.frames);
    const VideoFrames back = transition(out, out, plan_.loop_transition);
    append(out, back, 0, back.count);
    return out;
  }

  VideoFrames video_to_video() {
    video::VideoReadOptions keep;
    keep.max_frames = request_.frames;
    const VideoFrames clip = read_clip(request_.video, "--video", keep, request_.width, request_.height);
    // The longest 1+4k prefix the clip holds, up to --frames.
    const int64_t frames = 1 + (std::min<int64_t>(clip.count, request_.frames) - 1) / t() * t();
    if (frames < request_.frames) {
      setup_.logger.info("--video '" + request_.video + "': " + std::to_string(clip.count) +
                         " frames; re-rendering its first " + std::to_string(frames));
    }
    setup_.report(Stage::encode_clip, 0, 1, 1, 1);
    const at::Tensor pixels = vae::from_video_frames(clip, 0, frames);
    Conditioning conditioning;
    conditioning.init = gen_.encode_video(pixels);
    // diffusers' img2img convention: strength S runs the last int(S * steps)
    // steps of the schedule, from the clip noised to that step's sigma.
    conditioning.start_step = request_.steps - static_cast<int>(request_.strength * request_.steps);
    if (setup_.inputs.kind == "i2v") {
      conditioning.y = gen_.image_condition(vae::to_channels_last_bytes(pixels.select(1, 0)), std::nullopt, frames,
                                            static_cast<int64_t>(request_.width) * request_.height)
                           .y;
    }
    setup_.report(Stage::encode_clip, 1, 1, 1, 1);
    check_cancel("clip encoding");
    const std::array<int64_t, 4> shape{conditioning.init.size(0), conditioning.init.size(1),
                                       conditioning.init.size(2), conditioning.init.size(3)};
    VideoFrames out;
    add_new_frames(out, denoise_and_decode(shape, std::move(conditioning)));
    return out;
  }

  const ResolvedRequest& request_;
  RenderSetup& setup_;
  VideoGenerator& gen_;
  ClipPlan plan_;
  int windows_ = 1;
  int window_index_ = 0;
  std::optional<ColourStats> reference_;
};

}  // namespace

ColourStats colour_stats(const at::Tensor& video) {
  ColourStats stats;
  const at::Tensor flat = video.reshape({video.size(0), -1}).to(at::kDouble);
  const at::Tensor mean = flat.mean(1);
  const at::Tensor std = flat.std(1, /*unbiased=*/false);
  for (int c = 0; c < 3; ++c) {
    stats.mean[c] = mean[c].item<double>();
    stats.std[c] = std[c].item<double>();
  }
  return stats;
}

at::Tensor match_colour(const at::Tensor& video, const ColourStats& from, const ColourStats& target) {
  // The mean only: a window's spread also changes with what it shows (an
  // object leaving the frame lowers it), and scaling it back to the first
  // window's pushed the background off by 30 levels in a 60 s render.
  std::vector<at::Tensor> channels;
  for (int c = 0; c < 3; ++c) channels.push_back(video.select(0, c).add(target.mean[c] - from.mean[c]));
  return at::stack(channels, 0).clamp(-1.0, 1.0);
}

VideoFrames render_request(const ResolvedRequest& request, RenderSetup& setup) {
  return Renderer(request, setup).run();
}

}  // namespace soragen::pipeline
