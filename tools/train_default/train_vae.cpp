// Stage 1: the VAE learns to reconstruct world clips. Loss: mean squared
// error of the decoded clip plus a small KL term on the posterior, sampled
// with the reparameterisation (so the decoder tolerates imprecise latents, as
// the DiT will produce).
#include <torch/types.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include <chrono>
#include <cstdio>

#include "checkpoint.h"
#include "clips.h"
#include "configs.h"
#include "models.h"
#include "io/safetensors_writer.h"
#include "schedule.h"
#include "train.h"
#include "vae/wan_vae.h"

namespace fs = std::filesystem;

namespace soragen::train {

constexpr double kKlWeight = 1e-4;

void train_vae(const StageOptions& o, int frames, double object_weight) {
  fs::create_directories(o.work);
  vae::WanVAE model = make_vae();
  at::Generator init = step_generator(o.seed, -1);
  init_for_training(*model, init);
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(o.lr).weight_decay(0.0));

  const fs::path weights = o.work / "vae.safetensors", optim = o.work / "vae.optim.pt", state_path = o.work / "vae.json";
  nlohmann::json state = {{"step", 0}, {"log", nlohmann::json::array()}};
  if (fs::exists(state_path)) {
    state = read_json(state_path);
    load_module_tensors(*model, weights);
    load_optimizer(optimizer, optim);
    std::printf("vae: resuming at step %lld\n", static_cast<long long>(state["step"].get<int64_t>()));
  }
  const auto save = [&](int64_t step) {
    io::save_safetensors(weights, module_tensors(*model));
    save_optimizer(optimizer, optim);
    state["step"] = step;
    write_json(state_path, state);
  };

  double rec_sum = 0, kl_sum = 0;
  int logged = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t step = state["step"].get<int64_t>(); step < o.steps; ++step) {
    // --overfit: the same batch every step, a check that the model can learn at all.
    std::mt19937_64 rng = step_rng(o.seed, o.overfit ? 0 : step);
    at::Generator gen = step_generator(o.seed, step);
    const at::Tensor x = render_batch(rng, o.batch, frames);
    set_learning_rate(optimizer, learning_rate(o.lr, step, o.steps));

    const auto moments = model->encode_moments(x);
    const at::Tensor log_var = moments.log_var.clamp(-30.0, 20.0);
    const at::Tensor eps = at::randn(moments.mu.sizes(), gen, moments.mu.options());
    const at::Tensor z = moments.mu + at::exp(0.5 * log_var) * eps;
    vae::DecodeOptions decode;
    decode.clamp = false;
    const at::Tensor recon = model->decode(z, decode);
    const at::Tensor squared = (recon - x).pow(2);
    const at::Tensor rec = squared.mean();
    // The object covers a few percent of the pixels, so a plain mean lets the
    // background dominate and the object's colour comes back washed out:
    // object pixels weigh object_weight times more.
    const at::Tensor weight = 1.0 + object_weight * object_mask(x);
    const at::Tensor weighted = (weight * squared).sum() / (weight.sum() * 3.0);
    const at::Tensor kl = 0.5 * (moments.mu.pow(2) + log_var.exp() - 1.0 - log_var).mean();
    const at::Tensor loss = weighted + kKlWeight * kl;

    optimizer.zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(model->parameters(), 1.0);
    optimizer.step();

    rec_sum += rec.item<double>();
    kl_sum += kl.item<double>();
    ++logged;
    if ((step + 1) % o.log_every == 0 || step + 1 == o.steps) {
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("vae step %lld/%lld  mse %.5f  kl %.3f  lr %.2e  %.2f s/step\n", static_cast<long long>(step + 1),
                  static_cast<long long>(o.steps), rec_sum / logged, kl_sum / logged,
                  learning_rate(o.lr, step, o.steps), secs / logged);
      std::fflush(stdout);
      state["log"].push_back({{"step", step + 1}, {"mse", rec_sum / logged}, {"kl", kl_sum / logged}});
      rec_sum = kl_sum = 0;
      logged = 0;
      t0 = std::chrono::steady_clock::now();
    }
    if ((step + 1) % o.save_every == 0 || step + 1 == o.steps) save(step + 1);
  }
}

}  // namespace soragen::train
