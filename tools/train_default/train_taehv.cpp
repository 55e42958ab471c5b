// Stage 5: the embedded default's tiny preview decoder (taehv.h). It learns
// from the latents stage's pairs: each latent as the DiT sees it
// (normalised) and the clip it encodes, drawn again from the stage's seed.
// The target is the clip itself, not the VAE's decode of it, so the
// decoder is not taught the VAE's own errors.
#include <torch/types.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>

#include "checkpoint.h"
#include "clips.h"
#include "configs.h"
#include "io/safetensors_writer.h"
#include "io/tensor_source.h"
#include "schedule.h"
#include "taehv.h"
#include "vae/tiny_decoder.h"

namespace fs = std::filesystem;

namespace soragen::train {
namespace {

constexpr double kEmaDecay = 0.999;

// The latents stage's latents and their scenes, checked against the tiny
// decoder's geometry: a latents.safetensors made by another VAE (another
// spatial factor) fails here, not as a shape error inside the loss.
struct Pairs {
  at::Tensor latents;  // [N, z, F, h, w] normalised
  std::vector<world::Scene> scenes;
};

Pairs read_pairs(const StageOptions& o, const vae::TinyDecoderConfig& config) {
  const fs::path path = o.work / "latents.safetensors";
  if (!fs::exists(path)) throw std::runtime_error(path.string() + " is missing: run the latents stage first");
  const auto source = io::open_weights(path);
  Pairs pairs;
  pairs.latents = source->load("latents").to(at::kFloat).contiguous();
  const at::Tensor& z = pairs.latents;
  if (z.dim() != 5 || z.size(1) != config.latent_channels || config.frames_for_latents(z.size(2)) != kFrames ||
      z.size(3) * config.spatial_factor() != kSize || z.size(4) * config.spatial_factor() != kSize) {
    throw std::runtime_error(path.string() + ": latents " + io::format_shape(z.sizes()) + " do not decode to " +
                             std::to_string(kFrames) + " frames of " + std::to_string(kSize) + "x" +
                             std::to_string(kSize) + " with the tiny decoder's " +
                             std::to_string(config.spatial_factor()) + "x: run the latents stage with the VAE of "
                             "configs.cpp");
  }
  pairs.scenes = latents_stage_scenes(o.seed, source->load("scenes"));
  return pairs;
}

}  // namespace

void train_taehv(const StageOptions& o, double object_weight) {
  fs::create_directories(o.work);
  const vae::TinyDecoderConfig config = taehv_config();
  const Pairs pairs = read_pairs(o, config);
  const auto clips = static_cast<int64_t>(pairs.scenes.size());
  vae::TinyDecoder model(config);
  at::Generator init = step_generator(o.seed, -2);
  init_for_training(*model, init);
  Ema ema(*model, kEmaDecay);
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(o.lr).weight_decay(0.0));

  const fs::path weights = o.work / "taehv.safetensors", ema_path = o.work / "taehv_ema.safetensors",
                 optim = o.work / "taehv.optim.pt", state_path = o.work / "taehv.json";
  const nlohmann::json config_json = nlohmann::json::parse(config.to_json().dump());
  nlohmann::json state = {{"step", 0}, {"config", config_json}, {"log", nlohmann::json::array()}};
  if (fs::exists(state_path)) {
    state = read_json(state_path);
    if (state.value("config", nlohmann::json()) != config_json) {
      throw std::runtime_error(state_path.string() + " was trained with another tiny decoder config than "
                               "taehv.cpp's; start in a fresh work directory");
    }
    load_module_tensors(*model, weights);
    ema.load(ema_path);
    load_optimizer(optimizer, optim);
    std::printf("taehv: resuming at step %lld\n", static_cast<long long>(state["step"].get<int64_t>()));
  }
  const auto save = [&](int64_t step) {
    io::save_safetensors(weights, module_tensors(*model));
    io::save_safetensors(ema_path, ema.tensors());
    save_optimizer(optimizer, optim);
    state["step"] = step;
    write_json(state_path, state);
  };

  std::printf("taehv: %lld clips, %s: widths %lld %lld %lld %lld, %lldx space, %lldx time\n",
              static_cast<long long>(clips), (o.work / "latents.safetensors").c_str(),
              static_cast<long long>(config.widths[0]), static_cast<long long>(config.widths[1]),
              static_cast<long long>(config.widths[2]), static_cast<long long>(config.widths[3]),
              static_cast<long long>(config.spatial_factor()), static_cast<long long>(config.temporal_factor()));
  double mse_sum = 0, weighted_sum = 0;
  int logged = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t step = state["step"].get<int64_t>(); step < o.steps; ++step) {
    // --overfit: the same batch every step, a check that the stage can learn at all.
    std::mt19937_64 rng = step_rng(o.seed, o.overfit ? 0 : step);
    std::uniform_int_distribution<int64_t> pick(0, clips - 1);
    std::vector<int64_t> chosen;
    std::vector<world::Scene> scenes;
    for (int i = 0; i < o.batch; ++i) {
      chosen.push_back(pick(rng));
      scenes.push_back(pairs.scenes[static_cast<size_t>(chosen.back())]);
    }
    const at::Tensor z = pairs.latents.index_select(0, at::tensor(chosen, at::kLong));
    const at::Tensor x = render_scenes(scenes, kFrames);  // [B, 3, F, H, W] in [-1, 1]
    const at::Tensor target = (x + 1.0) * 0.5;           // TAEHV's [0, 1]
    set_learning_rate(optimizer, learning_rate(o.lr, step, o.steps));

    // Unclamped: a clamp would stop the gradient of every pixel past the range.
    const at::Tensor recon = model->decode(z, /*clamp=*/false);
    const at::Tensor squared = (recon - target).pow(2);
    const at::Tensor weight = 1.0 + object_weight * object_mask(x);
    const at::Tensor loss = (weight * squared).sum() / (weight.sum() * 3.0);

    optimizer.zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(model->parameters(), 1.0);
    optimizer.step();
    ema.update(*model, step);

    mse_sum += squared.mean().item<double>();
    weighted_sum += loss.item<double>();
    ++logged;
    if ((step + 1) % o.log_every == 0 || step + 1 == o.steps) {
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("taehv step %lld/%lld  mse %.5f  weighted %.5f  lr %.2e  %.2f s/step\n",
                  static_cast<long long>(step + 1), static_cast<long long>(o.steps), mse_sum / logged,
                  weighted_sum / logged, learning_rate(o.lr, step, o.steps), secs / logged);
      std::fflush(stdout);
      state["log"].push_back({{"step", step + 1}, {"mse", mse_sum / logged}, {"weighted", weighted_sum / logged}});
      mse_sum = weighted_sum = 0;
      logged = 0;
      t0 = std::chrono::steady_clock::now();
    }
    if ((step + 1) % o.save_every == 0 || step + 1 == o.steps) save(step + 1);
  }
}

}  // namespace soragen::train
