// soragen-train: trains the embedded default model on the procedural world.
//
//   soragen-train vae     --work W --steps 1500 --batch 4
//   soragen-train latents --work W --clips 4096
//   soragen-train transitions --work W --clips 1024
//   soragen-train dit     --work W --tokenizer spiece.model --steps 4000 --batch 32 --object-weight 10
//   soragen-train taehv   --work W --steps 3000 --batch 8
//   soragen-train export  --work W --tokenizer spiece.model --out models/default
//   soragen-train probe   --work W --tokenizer spiece.model --clips 8
//
// Every stage resumes from the work directory's last checkpoint when run
// again with the same arguments; a fixed --seed makes a run repeatable.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "core/runtime.h"
#include "soragen/log.h"
#include "taehv.h"
#include "tokenizer/tokenizer.h"
#include "train.h"

namespace st = soragen::train;

int main(int argc, char** argv) {
  CLI::App app{"Trains soragen's embedded default model on procedural clips of moving shapes."};
  app.require_subcommand(1);
  // One options object per stage, so each keeps its own defaults.
  st::StageOptions vae_options, latent_options, transition_options, dit_options, export_options, probe_options,
      taehv_options;
  std::string tokenizer, out = "models/default";
  int threads = 0, frames = 17, clips = 2048, probe_clips = 8, sample_steps = 50;
  double object_weight = 10.0;

  const auto common = [&](CLI::App* sub, st::StageOptions& o) {
    sub->add_option("--work", o.work, "checkpoint directory (resumed when it holds a checkpoint)")->required();
    sub->add_option("--seed", o.seed, "seed of data, noise and initial weights")->capture_default_str();
    sub->add_option("--threads", threads, "CPU threads (0: all cores)");
  };
  const auto training = [&](CLI::App* sub, st::StageOptions& o, int64_t steps, int batch, double lr) {
    o.steps = steps;
    o.batch = batch;
    o.lr = lr;
    sub->add_option("--steps", o.steps, "total steps of this stage")->capture_default_str();
    sub->add_option("--batch", o.batch, "clips per step")->capture_default_str();
    sub->add_option("--lr", o.lr, "peak learning rate (AdamW, warm-up then cosine)")->capture_default_str();
    sub->add_option("--log-every", o.log_every, "steps between loss lines")->capture_default_str();
    sub->add_option("--save-every", o.save_every, "steps between checkpoints")->capture_default_str();
    sub->add_flag("--overfit", o.overfit, "train on one fixed batch: checks that the stage can learn");
  };

  CLI::App* vae = app.add_subcommand("vae", "train the VAE to reconstruct clips");
  common(vae, vae_options);
  training(vae, vae_options, 1500, 4, 2e-3);
  vae->add_option("--frames", frames, "frames per training clip (1 + 4k)")->capture_default_str();
  vae->add_option("--object-weight", object_weight, "extra loss weight of object pixels")->capture_default_str();
  CLI::App* latents = app.add_subcommand("latents", "encode the DiT's training clips with the trained VAE");
  common(latents, latent_options);
  latents->add_option("--clips", clips, "number of clips")->capture_default_str();
  CLI::App* transitions = app.add_subcommand("transitions", "encode transition clips for connect and loops");
  common(transitions, transition_options);
  int transition_clips = 1024;
  transitions->add_option("--clips", transition_clips, "number of clips")->capture_default_str();
  double curved_transitions = 0;
  transitions
      ->add_option("--curved", curved_transitions,
                   "share of curved transitions, whose ends move in any direction (a loop's or a connect's ends "
                   "often move away from the path's target); 0 draws straight ones only, as the shipped default")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  CLI::App* dit = app.add_subcommand("dit", "train the text encoder and the DiT (flow matching)");
  common(dit, dit_options);
  training(dit, dit_options, 4000, 32, 1e-3);
  st::DitOptions dit_stage;
  dit->add_option("--tokenizer", dit_stage.tokenizer, "sentencepiece model (spm_train on the prompt corpus)")
      ->required()->check(CLI::ExistingFile);
  dit->add_option("--object-weight", dit_stage.object_weight,
                  "extra loss weight of the latent pixels the object covers (0: plain MSE)")->capture_default_str();
  dit->add_option("--conditioning", dit_stage.conditioning,
                  "share of samples with known (clean, timestep 0) latent frames: the first (image to video), "
                  "the first 2-3 (extension), the last 1-2 (backward) or both ends (connect, loops)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  dit->add_option("--transitions", dit_stage.transitions,
                  "share of samples drawn from the transitions stage's clips, known at both ends")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  dit->add_option("--mismatched-prompts", dit_stage.mismatched_prompts,
                  "share of the samples with 2 or more known frames at the start whose prompt names another "
                  "direction (the clip's motion decides, as in an extension)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  dit->add_option("--init", dit_stage.init,
                  "start a fresh run from this exported model directory's encoder and DiT weights")
      ->check(CLI::ExistingDirectory);
  CLI::App* taehv = app.add_subcommand("taehv", "train the tiny preview decoder on the latents stage's latents");
  common(taehv, taehv_options);
  training(taehv, taehv_options, 3000, 8, 2e-3);
  double taehv_object_weight = 10.0;
  taehv->add_option("--object-weight", taehv_object_weight, "extra loss weight of object pixels")
      ->capture_default_str();
  CLI::App* exporter = app.add_subcommand("export", "write the bundled model directory");
  common(exporter, export_options);
  exporter->add_option("--tokenizer", tokenizer, "sentencepiece model to ship")->required()->check(CLI::ExistingFile);
  exporter->add_option("--out", out, "model directory")->capture_default_str();

  CLI::App* probe = app.add_subcommand("probe", "diagnose the DiT checkpoint: denoising by noise level, sampling");
  common(probe, probe_options);
  probe->add_option("--tokenizer", tokenizer, "the sentencepiece model it was trained with")
      ->required()->check(CLI::ExistingFile);
  probe->add_option("--clips", probe_clips, "training clips to probe")->capture_default_str();
  probe->add_option("--sample-steps", sample_steps, "Euler steps when sampling from noise")->capture_default_str();

  CLI11_PARSE(app, argc, argv);
  try {
    soragen::core::set_threads(threads);
    if (app.got_subcommand(vae)) {
      st::train_vae(vae_options, frames, object_weight);
    } else if (app.got_subcommand(latents)) {
      st::encode_latents(latent_options, clips);
    } else if (app.got_subcommand(transitions)) {
      st::encode_transitions(transition_options, transition_clips, curved_transitions);
    } else if (app.got_subcommand(dit)) {
      st::train_dit(dit_options, dit_stage);
    } else if (app.got_subcommand(taehv)) {
      st::train_taehv(taehv_options, taehv_object_weight);
    } else if (app.got_subcommand(probe)) {
      st::probe_dit(probe_options, tokenizer, probe_clips, sample_steps);
    } else {
      const auto tok = soragen::tokenizer::Tokenizer::load(tokenizer, 8, soragen::Logger());
      st::export_model(export_options.work, tokenizer, out, tok.vocab_size());
      std::printf("wrote %s\n", out.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "soragen-train: %s\n", e.what());
    return 1;
  }
  return 0;
}
