#include "clips.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/module.h>

#include <cmath>

#include "render.h"
#include "configs.h"
#include "vae/frames.h"

namespace soragen::train {

at::Tensor render_batch(std::mt19937_64& rng, int count, int frames, std::vector<world::Scene>* scenes) {
  std::vector<world::Scene> drawn;
  for (int i = 0; i < count; ++i) drawn.push_back(world::random_scene(rng, world::Split::train));
  if (scenes) scenes->insert(scenes->end(), drawn.begin(), drawn.end());
  return render_scenes(drawn, frames);
}

at::Tensor render_scenes(const std::vector<world::Scene>& scenes, int frames) {
  std::vector<at::Tensor> clips;
  for (const world::Scene& scene : scenes) clips.push_back(vae::from_video_frames(world::render(scene, frames, kSize, kSize)));
  return at::stack(clips);
}

at::Tensor object_mask(const at::Tensor& clips) {
  return ((clips - clips.narrow(4, 0, 1)).abs().sum(1, true) > 0.15).to(at::kFloat);
}

at::Tensor latent_object_mask(const at::Tensor& pixel_mask, const at::Tensor& latents) {
  const int64_t sy = pixel_mask.size(3) / latents.size(3), sx = pixel_mask.size(4) / latents.size(4);
  const at::Tensor first = at::max_pool3d(pixel_mask.narrow(2, 0, 1), {1, sy, sx});
  if (latents.size(2) == 1) return first;
  const int64_t st = (pixel_mask.size(2) - 1) / (latents.size(2) - 1);
  const at::Tensor rest = at::max_pool3d(pixel_mask.narrow(2, 1, pixel_mask.size(2) - 1), {st, sy, sx});
  return at::cat({first, rest}, 2);
}

std::vector<int64_t> scene_row(const world::Scene& s) {
  return {s.colour, static_cast<int64_t>(s.shape), static_cast<int64_t>(s.size), static_cast<int64_t>(s.direction),
          s.background, s.gradient ? 1 : 0};
}

at::Tensor scene_rows(const std::vector<world::Scene>& scenes) {
  std::vector<int64_t> rows;
  for (const world::Scene& s : scenes) {
    const std::vector<int64_t> row = scene_row(s);
    rows.insert(rows.end(), row.begin(), row.end());
  }
  return at::tensor(rows, at::kLong).view({-1, kSceneRowLength});
}

world::Scene scene_from_row(const at::Tensor& row) {
  world::Scene s;
  s.colour = static_cast<int>(row[0].item<int64_t>());
  s.shape = static_cast<world::Shape>(row[1].item<int64_t>());
  s.size = static_cast<world::Size>(row[2].item<int64_t>());
  s.direction = static_cast<world::Direction>(row[3].item<int64_t>());
  s.background = static_cast<int>(row[4].item<int64_t>());
  s.gradient = row[5].item<int64_t>() != 0;
  return s;
}

std::mt19937_64 step_rng(std::uint64_t seed, int64_t step) {
  std::seed_seq seq{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                    static_cast<std::uint32_t>(step), static_cast<std::uint32_t>(step >> 32)};
  return std::mt19937_64(seq);
}

at::Generator step_generator(std::uint64_t seed, int64_t step) {
  return at::detail::createCPUGenerator(seed * 1000003ULL + static_cast<std::uint64_t>(step));
}

void init_for_training(torch::nn::Module& module, at::Generator& generator, const std::vector<std::string>& zero_names) {
  const torch::NoGradGuard no_grad;
  for (auto& item : module.named_parameters(/*recurse=*/true)) {
    const std::string& name = item.key();
    at::Tensor p = item.value();
    bool zero = false;
    for (const std::string& z : zero_names) zero = zero || name.find(z) != std::string::npos;
    const bool is_norm = name.find("norm") != std::string::npos || name.find("gamma") != std::string::npos;
    const bool is_scale = name.size() >= 6 && (name.compare(name.size() - 6, 6, "weight") == 0 ||
                                                name.compare(name.size() - 5, 5, "gamma") == 0);
    if (zero) {
      p.zero_();
    } else if (is_norm) {
      p.fill_(is_scale ? 1.0 : 0.0);
    } else if (p.dim() <= 1) {
      p.zero_();
    } else if (name.find("modulation") != std::string::npos) {
      p.copy_(at::randn(p.sizes(), generator, p.options()).mul_(0.02));
    } else {
      const double fan_in = static_cast<double>(p.numel() / p.size(0));
      p.copy_(at::randn(p.sizes(), generator, p.options()).mul_(1.0 / std::sqrt(fan_in)));
    }
    p.set_requires_grad(true);
  }
}

}  // namespace soragen::train
