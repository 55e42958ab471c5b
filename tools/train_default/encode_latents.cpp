// Stage 2: a fixed set of training clips encoded once with the trained VAE
// (the DiT then trains for many epochs on them without touching the VAE),
// the per-channel latent statistics that become the VAE config's
// latents_mean/std, where the object is on the latent grid (the DiT's loss
// weights it), and a check that the VAE's reconstructions still read
// back as the scenes they came from.
#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "checkpoint.h"
#include "clips.h"
#include "configs.h"
#include "models.h"
#include "detect.h"
#include "io/safetensors_writer.h"
#include "render.h"
#include "train.h"
#include "vae/frames.h"
#include "vae/wan_vae.h"

namespace fs = std::filesystem;

namespace soragen::train {

namespace {

// Original frames above their reconstruction, every 4th frame, as a PPM
// image for looking at by eye.
void write_strip(const fs::path& path, const VideoFrames& original, const VideoFrames& recon) {
  const int w = original.width, h = original.height, shown = (original.count + 3) / 4;
  std::ofstream out(path, std::ios::binary);
  out << "P6\n" << w * shown << " " << h * 2 << "\n255\n";
  for (const VideoFrames* v : {&original, &recon}) {
    for (int y = 0; y < h; ++y) {
      for (int f = 0; f < shown; ++f) {
        out.write(reinterpret_cast<const char*>(v->frame(f * 4) + static_cast<size_t>(y) * w * 3), w * 3);
      }
    }
  }
}

// The VAE the vae stage trained.
vae::WanVAE trained_vae(const StageOptions& o) {
  vae::WanVAE model = make_vae();
  load_module_tensors(*model, o.work / "vae.safetensors");
  return model;
}

// The clip's last latents as a window's tail is made at inference
// (pipeline/clip_render.cpp): its last 1 + 4t frames encoded on their own,
// then latents 1..t (latent 0 stands for the first of those frames alone).
// At the end of a whole clip's encoding the same frames encode otherwise:
// the causal encoder has seen the frames before them there. [B, z, t, h, w].
at::Tensor standalone_tail(vae::WanVAE& model, const at::Tensor& clips, int64_t t) {
  const int64_t frames = 1 + 4 * t;
  const at::Tensor last = clips.narrow(2, clips.size(2) - frames, frames);
  return model->encode_moments(last).mu.narrow(2, 1, t);
}

}  // namespace

void encode_latents(const StageOptions& o, int clips) {
  vae::WanVAE model = trained_vae(o);
  const torch::NoGradGuard no_grad;
  std::mt19937_64 rng = step_rng(o.seed, int64_t{1} << 40);
  std::vector<world::Scene> scenes;
  std::vector<at::Tensor> mus, objects, tails1, tails2;
  int checked = 0, colour_ok = 0, background_ok = 0, direction_ok = 0, shape_ok = 0;
  const int chunk = 16;
  for (int start = 0; start < clips; start += chunk) {
    const int count = std::min(chunk, clips - start);
    const size_t first = scenes.size();
    const at::Tensor x = render_batch(rng, count, kFrames, &scenes);
    const at::Tensor mu = model->encode_moments(x).mu;
    mus.push_back(mu);
    objects.push_back(latent_object_mask(object_mask(x), mu));
    tails1.push_back(standalone_tail(model, x, 1));
    tails2.push_back(standalone_tail(model, x, 2));
    if (checked < 128) {
      const at::Tensor recon = model->decode(mu);
      for (int i = 0; i < count; ++i) {
        const world::Scene& s = scenes[first + static_cast<size_t>(i)];
        const VideoFrames frames = vae::to_video_frames(recon[i]);
        const world::Detection d = world::detect(frames);
        if (checked < 4) write_strip(o.work / ("recon_" + std::to_string(checked) + ".ppm"), vae::to_video_frames(x[i]), frames);
        ++checked;
        colour_ok += d.colour == s.colour;
        background_ok += d.background == s.background;
        direction_ok += d.direction && *d.direction == s.direction;
        shape_ok += d.shape && *d.shape == s.shape;
      }
    }
    if ((start / chunk) % 32 == 0) {
      std::printf("latents: %d/%d clips\n", start + count, clips);
      std::fflush(stdout);
    }
  }
  const at::Tensor all = at::cat(mus);  // [N, z, F, h, w]
  const at::Tensor mean = all.mean({0, 2, 3, 4});
  const at::Tensor std = all.std({0, 2, 3, 4});
  const auto normalise = [&](const at::Tensor& latents) {
    return ((latents - mean.view({1, -1, 1, 1, 1})) / std.view({1, -1, 1, 1, 1})).contiguous();
  };
  const at::Tensor attributes = scene_rows(scenes);
  io::save_safetensors(o.work / "latents.safetensors", {{"latents", normalise(all)},
                                                        {"tail1", normalise(at::cat(tails1))},
                                                        {"tail2", normalise(at::cat(tails2))},
                                                        {"objects", at::cat(objects).contiguous()},
                                                        {"scenes", attributes}});
  std::vector<double> mean_values(mean.data_ptr<float>(), mean.data_ptr<float>() + mean.numel());
  std::vector<double> std_values(std.data_ptr<float>(), std.data_ptr<float>() + std.numel());
  write_json(o.work / "latent_stats.json", {{"latents_mean", mean_values}, {"latents_std", std_values}});
  std::printf("latents: %d clips; latent mean/std per channel:", clips);
  for (size_t c = 0; c < std_values.size(); ++c) std::printf(" %.2f/%.2f", mean_values[c], std_values[c]);
  std::printf("\n");
  std::printf(
      "VAE reconstructions read back (%d clips): colour %.1f%%, background %.1f%%, direction %.1f%%, shape %.1f%%\n",
      checked, 100.0 * colour_ok / checked, 100.0 * background_ok / checked, 100.0 * direction_ok / checked,
      100.0 * shape_ok / checked);
}

// Stage 2b: transitions (world::random_transition), encoded as the latents
// stage encodes its clips and normalised with its statistics, so that the
// DiT learns to follow frames known at both ends of a window when they
// disagree with a plain continuation (connect, loops).
void encode_transitions(const StageOptions& o, int clips, double curved) {
  const fs::path stats_path = o.work / "latent_stats.json";
  if (!fs::exists(stats_path)) throw std::runtime_error(stats_path.string() + " is missing: run the latents stage first");
  const nlohmann::json stats = read_json(stats_path);
  const at::Tensor mean = at::tensor(stats["latents_mean"].get<std::vector<double>>(), at::kFloat).view({1, -1, 1, 1, 1});
  const at::Tensor std = at::tensor(stats["latents_std"].get<std::vector<double>>(), at::kFloat).view({1, -1, 1, 1, 1});
  vae::WanVAE model = trained_vae(o);
  const torch::NoGradGuard no_grad;
  std::mt19937_64 rng = step_rng(o.seed, int64_t{1} << 41);
  std::vector<world::Scene> scenes;
  std::vector<at::Tensor> mus, objects, tails1, tails2;
  const int chunk = 16;
  for (int start = 0; start < clips; start += chunk) {
    std::vector<world::Scene> drawn;
    for (int i = 0; i < std::min(chunk, clips - start); ++i) drawn.push_back(world::random_transition(rng, curved));
    const at::Tensor x = render_scenes(drawn, kFrames);
    const at::Tensor mu = model->encode_moments(x).mu;
    mus.push_back((mu - mean) / std);
    objects.push_back(latent_object_mask(object_mask(x), mu));
    tails1.push_back((standalone_tail(model, x, 1) - mean) / std);
    tails2.push_back((standalone_tail(model, x, 2) - mean) / std);
    scenes.insert(scenes.end(), drawn.begin(), drawn.end());
  }
  io::save_safetensors(o.work / "transitions.safetensors", {{"latents", at::cat(mus).contiguous()},
                                                           {"tail1", at::cat(tails1).contiguous()},
                                                           {"tail2", at::cat(tails2).contiguous()},
                                                           {"objects", at::cat(objects).contiguous()},
                                                           {"scenes", scene_rows(scenes)}});
  std::printf("transitions: %d clips\n", clips);
}

}  // namespace soragen::train
