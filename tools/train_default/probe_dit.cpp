// Diagnosis of a DiT checkpoint: where along the noise path does it fail?
// For training clips it (1) noises the latent to sigma, takes the one-step
// estimate x0 = x_t - sigma * v, and reports its error per latent frame and
// whether the decoded estimate reads back as the clip's colour and direction;
// (2) samples from pure noise with plain Euler steps on the shifted schedule
// (no guidance) and reads the result back. (1) good and (2) bad means the
// high-noise end, where the object is placed, needs more training.
#include <torch/types.h>

#include <cstdio>

#include "checkpoint.h"
#include "clips.h"
#include "configs.h"
#include "describe.h"
#include "detect.h"
#include "io/tensor_source.h"
#include "models.h"
#include "sampling/schedule.h"
#include "tokenizer/tokenizer.h"
#include "train.h"
#include "vae/frames.h"

namespace fs = std::filesystem;

namespace soragen::train {

namespace {

struct Probe {
  text_encoder::UMT5Encoder encoder;
  dit::WanModel dit;
  vae::WanVAE vae;
  at::Tensor mean, std;  // latent statistics, [z, 1, 1, 1]

  at::Tensor velocity(const at::Tensor& x, double timestep, const at::Tensor& context) {
    const int64_t seq_len = dit::token_count(dit->config(), x.size(1), x.size(2), x.size(3));
    return dit->forward({x}, at::full({1}, timestep), {context}, seq_len)[0];
  }
  bool follows(const at::Tensor& normalised, const world::Scene& scene) {
    const at::Tensor video = vae->decode((normalised * std + mean).unsqueeze(0));
    const world::Detection d = world::detect(vae::to_video_frames(video[0]));
    return d.colour == scene.colour && d.direction && *d.direction == scene.direction;
  }
};

}  // namespace

void probe_dit(const StageOptions& o, const fs::path& tokenizer_path, int clips, int sample_steps) {
  const Logger quiet;
  const tokenizer::Tokenizer tokenizer = tokenizer::Tokenizer::load(tokenizer_path, kTextLen, quiet);
  Probe p{make_text_encoder(tokenizer.vocab_size()), make_dit(), make_vae(), {}, {}};
  load_module_tensors(*p.encoder, o.work / "text_encoder_ema.safetensors");
  load_module_tensors(*p.dit, o.work / "dit_ema.safetensors");
  load_module_tensors(*p.vae, o.work / "vae.safetensors");
  const nlohmann::json stats = read_json(o.work / "latent_stats.json");
  p.mean = at::tensor(stats["latents_mean"].get<std::vector<float>>()).view({-1, 1, 1, 1});
  p.std = at::tensor(stats["latents_std"].get<std::vector<float>>()).view({-1, 1, 1, 1});
  const torch::NoGradGuard no_grad;

  const auto data = io::open_weights(o.work / "latents.safetensors");
  const at::Tensor latents = data->load("latents");
  const at::Tensor rows = data->load("scenes");
  clips = static_cast<int>(std::min<int64_t>(clips, latents.size(0)));
  std::vector<world::Scene> scenes;
  std::vector<tokenizer::Tokenized> tokens;
  for (int i = 0; i < clips; ++i) {
    scenes.push_back(scene_from_row(rows[i]));
    tokens.push_back(tokenizer.encode(world::plain_prompt(scenes.back())));
  }
  std::vector<const tokenizer::Tokenized*> token_refs;
  for (const tokenizer::Tokenized& t : tokens) token_refs.push_back(&t);
  const std::vector<at::Tensor> contexts = encode_contexts(p.encoder, token_refs);

  at::Generator generator = step_generator(o.seed, -3);
  for (const double sigma : {0.2, 0.5, 0.8, 0.95}) {
    const int64_t frames = latents.size(2);
    std::vector<double> error(static_cast<size_t>(frames), 0.0);
    int followed = 0;
    for (int i = 0; i < clips; ++i) {
      const at::Tensor x0 = latents[i];
      const at::Tensor xt = (1.0 - sigma) * x0 + sigma * at::randn(x0.sizes(), generator, x0.options());
      const at::Tensor estimate = xt - sigma * p.velocity(xt, sigma * 1000.0, contexts[static_cast<size_t>(i)]);
      for (int64_t f = 0; f < frames; ++f) {
        error[static_cast<size_t>(f)] += (estimate.select(1, f) - x0.select(1, f)).pow(2).mean().item<double>() / clips;
      }
      followed += p.follows(estimate, scenes[static_cast<size_t>(i)]);
    }
    std::printf("one step from sigma %.2f: x0 error per latent frame", sigma);
    for (const double e : error) std::printf(" %.3f", e);
    std::printf("; colour+direction read back %d/%d\n", followed, clips);
  }

  // The shifted schedule the samplers use, from sigma 1.
  const sampling::Schedule schedule = sampling::flow_schedule(sample_steps, kShift, 1.0);
  int followed = 0;
  for (int i = 0; i < clips; ++i) {
    at::Tensor x = at::randn(latents[i].sizes(), generator, latents.options());
    for (size_t k = 0; k < schedule.timesteps.size(); ++k) {
      const double step = static_cast<double>(schedule.sigmas[k + 1]) - static_cast<double>(schedule.sigmas[k]);
      x = x + step * p.velocity(x, static_cast<double>(schedule.timesteps[k]), contexts[static_cast<size_t>(i)]);
    }
    followed += p.follows(x, scenes[static_cast<size_t>(i)]);
  }
  std::printf("sampled from noise (%d Euler steps, no guidance): colour+direction read back %d/%d\n", sample_steps,
              followed, clips);
}

}  // namespace soragen::train
