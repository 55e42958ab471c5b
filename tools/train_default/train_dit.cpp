// Stage 3: the umT5 encoder and the DiT, trained together with flow matching
// as the reference models are: x_t = (1 - s) x0 + s noise, the model predicts
// the velocity noise - x0, s drawn uniformly then shifted with the same shift
// the sampler uses at inference. About 10% of prompts are replaced by the
// empty prompt (a lone </s>, as the pipeline encodes an empty negative
// prompt) so classifier-free guidance has an unconditional model to push from.
// The object covers a few latent pixels of 64 and its path is what the prompt's
// direction decides, so with --object-weight those pixels weigh more in the
// mean squared error (as the VAE weighs the object's image pixels).
#include <torch/types.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <stdexcept>

#include "checkpoint.h"
#include "clips.h"
#include "configs.h"
#include "models.h"
#include "describe.h"
#include "dit/wan_model.h"
#include "io/safetensors_writer.h"
#include "io/tensor_source.h"
#include "schedule.h"
#include "tokenizer/tokenizer.h"
#include "text_encoder/umt5.h"
#include "train.h"

namespace fs = std::filesystem;

namespace soragen::train {

constexpr double kTextDropout = 0.1;
constexpr double kEmaDecay = 0.999;

namespace {

// The encoder's and the DiT's parameters, trained by one optimizer.
std::vector<at::Tensor> all_parameters(const torch::nn::Module& a, const torch::nn::Module& b) {
  std::vector<at::Tensor> params = a.parameters();
  for (const at::Tensor& p : b.parameters()) params.push_back(p);
  return params;
}

// Which latent frames of each sample are given clean. A transition sample
// (connect, loops) knows its first 1-2 and its last 1-2. Of the others a
// share 1 - conditioning knows none, the rest one of the patterns inference
// uses (clip_plan.h): the first frame, the first 2 or 3, the last 1 or 2, or
// the first 2 and the last 1. [B, 1, F, 1, 1] float.
at::Tensor known_frames(const std::vector<bool>& transition, int64_t frames, double conditioning,
                        std::mt19937_64& rng) {
  const auto batch = static_cast<int64_t>(transition.size());
  at::Tensor known = at::zeros({batch, 1, frames, 1, 1});
  std::uniform_real_distribution<double> unit(0, 1);
  for (int64_t b = 0; b < batch; ++b) {
    at::Tensor row = known[b][0].view({frames});
    if (transition[static_cast<size_t>(b)]) {
      row.narrow(0, 0, std::uniform_int_distribution<int64_t>(1, 2)(rng)).fill_(1);
      const int64_t tail = std::uniform_int_distribution<int64_t>(1, 2)(rng);
      row.narrow(0, frames - tail, tail).fill_(1);
      continue;
    }
    if (unit(rng) >= conditioning) continue;
    switch (std::uniform_int_distribution<int>(0, 5)(rng)) {
      case 0: row.narrow(0, 0, 1).fill_(1); break;
      case 1: row.narrow(0, 0, std::min<int64_t>(2, frames - 1)).fill_(1); break;
      case 2: row.narrow(0, 0, std::min<int64_t>(3, frames - 1)).fill_(1); break;
      case 3: row.narrow(0, frames - 1, 1).fill_(1); break;
      case 4: row.narrow(0, frames - 2, 2).fill_(1); break;
      default:
        row.narrow(0, 0, 2).fill_(1);
        row.narrow(0, frames - 1, 1).fill_(1);
        break;
    }
  }
  return known;
}

}  // namespace

void train_dit(const StageOptions& o, const DitOptions& d) {
  const Logger quiet;
  const tokenizer::Tokenizer tokenizer = tokenizer::Tokenizer::load(d.tokenizer, kTextLen, quiet);
  text_encoder::UMT5Encoder encoder = make_text_encoder(tokenizer.vocab_size());
  dit::WanModel dit = make_dit();
  at::Generator init = step_generator(o.seed, -2);
  init_for_training(*encoder, init);
  init_for_training(*dit, init, {"head.head"});
  if (!d.init.empty()) {
    load_module_tensors(*encoder, d.init / "text_encoder.safetensors");
    load_module_tensors(*dit, d.init / "dit.safetensors");
  }
  torch::optim::AdamW optimizer(all_parameters(*encoder, *dit), torch::optim::AdamWOptions(o.lr).weight_decay(0.01));
  Ema encoder_ema(*encoder, kEmaDecay), dit_ema(*dit, kEmaDecay);

  const auto data = io::open_weights(o.work / "latents.safetensors");
  at::Tensor latents = data->load("latents").clone();  // [N, z, F, h, w], normalised
  at::Tensor scenes = data->load("scenes").clone();    // [N, 6]
  at::Tensor objects;                                   // [N, 1, F, h, w], 1 where the object is
  if (d.object_weight != 0) {
    if (!data->contains("objects")) {
      throw std::runtime_error((o.work / "latents.safetensors").string() +
                               " has no object masks: run the latents stage again");
    }
    objects = data->load("objects").clone();
  }
  // Frames known at the end of a window are encoded at inference on their
  // own (encode_latents.cpp, standalone_tail): the latents stage stores them
  // so, for tails of 1 and 2 latents.
  at::Tensor tails[2];
  const bool learns_known_frames = d.conditioning > 0 || d.transitions > 0;
  if (learns_known_frames) {
    if (!data->contains("tail1") || !data->contains("tail2")) {
      throw std::runtime_error((o.work / "latents.safetensors").string() +
                               " has no standalone tail latents: run the latents stage again");
    }
    tails[0] = data->load("tail1").clone();
    tails[1] = data->load("tail2").clone();
  }
  const int64_t plain_clips = latents.size(0);
  // Transition clips follow the plain ones in the same tensors.
  if (d.transitions > 0) {
    const fs::path path = o.work / "transitions.safetensors";
    if (!fs::exists(path)) throw std::runtime_error(path.string() + " is missing: run the transitions stage first");
    const auto extra = io::open_weights(path);
    if (!extra->contains("tail1")) throw std::runtime_error(path.string() + " has no tails: run the transitions stage again");
    latents = at::cat({latents, extra->load("latents")});
    scenes = at::cat({scenes, extra->load("scenes")});
    tails[0] = at::cat({tails[0], extra->load("tail1")});
    tails[1] = at::cat({tails[1], extra->load("tail2")});
    if (objects.defined()) objects = at::cat({objects, extra->load("objects")});
  }
  const int64_t clips = latents.size(0);
  const int64_t seq_len = dit::token_count(dit->config(), latents.size(2), latents.size(3), latents.size(4));
  std::vector<std::vector<std::string>> prompts(static_cast<size_t>(clips));
  for (int64_t i = 0; i < clips; ++i) prompts[static_cast<size_t>(i)] = world::describe(scene_from_row(scenes[i]));

  const fs::path state_path = o.work / "dit.json";
  nlohmann::json state = {{"step", 0}, {"log", nlohmann::json::array()}};
  if (fs::exists(state_path)) {
    state = read_json(state_path);
    load_module_tensors(*encoder, o.work / "text_encoder.safetensors");
    load_module_tensors(*dit, o.work / "dit.safetensors");
    encoder_ema.load(o.work / "text_encoder_ema.safetensors");
    dit_ema.load(o.work / "dit_ema.safetensors");
    load_optimizer(optimizer, o.work / "dit.optim.pt");
    std::printf("dit: resuming at step %lld\n", static_cast<long long>(state["step"].get<int64_t>()));
  }
  const auto save = [&](int64_t step) {
    io::save_safetensors(o.work / "text_encoder.safetensors", module_tensors(*encoder));
    io::save_safetensors(o.work / "dit.safetensors", module_tensors(*dit));
    io::save_safetensors(o.work / "text_encoder_ema.safetensors", encoder_ema.tensors());
    io::save_safetensors(o.work / "dit_ema.safetensors", dit_ema.tensors());
    save_optimizer(optimizer, o.work / "dit.optim.pt");
    state["step"] = step;
    write_json(state_path, state);
  };

  // Token ids of every distinct prompt, computed once.
  std::map<std::string, tokenizer::Tokenized> token_cache;
  const auto tokens = [&](const std::string& prompt) -> const tokenizer::Tokenized& {
    auto it = token_cache.find(prompt);
    if (it != token_cache.end()) return it->second;
    return token_cache.emplace(prompt, prompt.empty() ? tokenizer.encode_empty() : tokenizer.encode(prompt))
        .first->second;
  };

  double loss_sum = 0, mse_sum = 0;  // the objective (object-weighted) and the plain MSE
  int logged = 0;
  auto t0 = std::chrono::steady_clock::now();
  const std::vector<at::Tensor> params = all_parameters(*encoder, *dit);
  for (int64_t step = state["step"].get<int64_t>(); step < o.steps; ++step) {
    std::mt19937_64 rng = step_rng(o.seed, step);
    at::Generator gen = step_generator(o.seed, step);
    set_learning_rate(optimizer, learning_rate(o.lr, step, o.steps, 200));

    std::vector<int64_t> index(static_cast<size_t>(o.batch));
    std::vector<bool> transition(static_cast<size_t>(o.batch), false);
    std::vector<const tokenizer::Tokenized*> batch_tokens;
    for (int b = 0; b < o.batch; ++b) {
      // (Drawn only when transitions are asked for, so a run without them
      // draws what it drew before they existed.)
      transition[static_cast<size_t>(b)] =
          d.transitions > 0 && std::uniform_real_distribution<double>(0, 1)(rng) < d.transitions;
      index[static_cast<size_t>(b)] =
          transition[static_cast<size_t>(b)]
              ? std::uniform_int_distribution<int64_t>(plain_clips, clips - 1)(rng)
              : std::uniform_int_distribution<int64_t>(0, plain_clips - 1)(rng);
      const auto& phrasings = prompts[static_cast<size_t>(index[static_cast<size_t>(b)])];
      const bool drop = std::uniform_real_distribution<double>(0, 1)(rng) < kTextDropout;
      const std::string prompt =
          drop ? std::string() : phrasings[std::uniform_int_distribution<size_t>(0, phrasings.size() - 1)(rng)];
      batch_tokens.push_back(&tokens(prompt));
    }

    const at::Tensor picked = at::tensor(index, at::kLong);
    const at::Tensor x0 = latents.index_select(0, picked);
    const at::Tensor noise = at::randn(x0.sizes(), gen, x0.options());
    const at::Tensor u = at::rand({o.batch}, gen, x0.options());
    const at::Tensor sigma = kShift * u / (1.0 + (kShift - 1.0) * u);
    const at::Tensor s = sigma.view({-1, 1, 1, 1, 1});
    // known: [B, 1, F, 1, 1], 1 on the latent frames given clean.
    const at::Tensor known = known_frames(transition, x0.size(2), d.conditioning, rng);
    // (Drawn only when asked for, as the transitions above.)
    if (d.mismatched_prompts > 0) {
      for (int b = 0; b < o.batch; ++b) {
        const bool shows_motion = known[b][0][0].item<float>() > 0 && known[b][0][1].item<float>() > 0;
        const bool mismatch = std::uniform_real_distribution<double>(0, 1)(rng) < d.mismatched_prompts;
        if (!shows_motion || !mismatch || transition[static_cast<size_t>(b)]) continue;
        world::Scene scene = scene_from_row(scenes[index[static_cast<size_t>(b)]]);
        const int other = std::uniform_int_distribution<int>(1, 3)(rng);
        scene.direction = static_cast<world::Direction>((static_cast<int>(scene.direction) + other) % 4);
        const std::vector<std::string> phrasings = world::describe(scene);
        batch_tokens[static_cast<size_t>(b)] =
            &tokens(phrasings[std::uniform_int_distribution<size_t>(0, phrasings.size() - 1)(rng)]);
      }
    }
    const std::vector<at::Tensor> contexts = encode_contexts(encoder, batch_tokens);
    // Known frames at the end: the tail as inference encodes it.
    at::Tensor given = x0;
    if (learns_known_frames) {
      given = x0.clone();
      const int64_t frames = x0.size(2);
      for (int b = 0; b < o.batch; ++b) {
        int64_t tail = 0;
        while (tail < frames - 1 && known[b][0][frames - 1 - tail].item<float>() > 0) ++tail;
        if (tail == 1 || tail == 2) {
          given[b].narrow(1, frames - tail, tail).copy_(tails[tail - 1][index[static_cast<size_t>(b)]]);
        }
      }
    }
    const at::Tensor xt = known * given + (1.0 - known) * ((1.0 - s) * x0 + s * noise);
    std::vector<at::Tensor> inputs;
    for (int b = 0; b < o.batch; ++b) inputs.push_back(xt[b]);
    // Per-token timesteps, as TI2V's: sigma * 1000 on generated frames, 0 on
    // known ones ([B, seq_len], frame-major like the patch tokens).
    const int64_t tokens_per_frame = seq_len / x0.size(2);
    const at::Tensor t = ((1.0 - known.view({o.batch, x0.size(2), 1})) * (sigma * 1000.0).view({-1, 1, 1}))
                             .expand({o.batch, x0.size(2), tokens_per_frame})
                             .reshape({o.batch, seq_len});
    const std::vector<at::Tensor> predicted = dit->forward(inputs, t, contexts, seq_len);
    const at::Tensor squared = (at::stack(predicted) - (noise - x0)).pow(2);
    const at::Tensor generated = (1.0 - known).expand_as(squared);
    const at::Tensor mse = (squared * generated).sum() / generated.sum();
    at::Tensor loss = mse;
    if (d.object_weight != 0) {
      const at::Tensor weight = (1.0 + d.object_weight * objects.index_select(0, picked)) * (1.0 - known);
      loss = (weight * squared).sum() / (weight.sum() * static_cast<double>(squared.size(1)));
    }

    optimizer.zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(params, 1.0);
    optimizer.step();
    encoder_ema.update(*encoder, step);
    dit_ema.update(*dit, step);

    loss_sum += loss.item<double>();
    mse_sum += mse.item<double>();
    ++logged;
    if ((step + 1) % o.log_every == 0 || step + 1 == o.steps) {
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("dit step %lld/%lld  loss %.4f  mse %.4f  lr %.2e  %.2f s/step\n", static_cast<long long>(step + 1),
                  static_cast<long long>(o.steps), loss_sum / logged, mse_sum / logged,
                  learning_rate(o.lr, step, o.steps, 200), secs / logged);
      std::fflush(stdout);
      state["log"].push_back({{"step", step + 1}, {"loss", loss_sum / logged}, {"mse", mse_sum / logged}});
      loss_sum = mse_sum = 0;
      logged = 0;
      t0 = std::chrono::steady_clock::now();
    }
    if ((step + 1) % o.save_every == 0 || step + 1 == o.steps) save(step + 1);
  }
}

}  // namespace soragen::train
