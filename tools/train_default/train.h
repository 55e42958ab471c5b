// The stages of training the embedded default, each resumable in one work
// directory (see scripts/train_default_model.sh for the whole recipe):
//   vae     reconstruction of world clips (the VAE alone)
//   latents encode a fixed set of training clips with the trained VAE and
//           record the latent statistics (the VAE config's latents_mean/std)
//   transitions  encode transition clips (connect, loops) with the trained VAE
//   dit     umT5 encoder + DiT with flow matching on those latents
//   export  a bundled model directory (model.json + safetensors + tokenizer)
//   probe   diagnosis of a DiT checkpoint: one-step denoising by noise level,
//           and sampling from noise, read back with the world's detector
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace soragen::train {

struct StageOptions {
  std::filesystem::path work;  // checkpoints and logs
  std::uint64_t seed = 20261122;
  int64_t steps = 0;           // total steps of the stage (resume continues up to it)
  int batch = 0;
  double lr = 0;
  int log_every = 25;
  int save_every = 200;
  bool overfit = false;        // train on one fixed batch (a sanity check of the stage)
};

// object_weight: extra loss weight of the object's pixels over the background's.
void train_vae(const StageOptions& options, int frames, double object_weight);
void encode_latents(const StageOptions& options, int clips);
// Transition clips (start and end anywhere, the prompt's direction random)
// beside the latents, in transitions.safetensors.
// curved: the share of curved transitions (world::random_transition).
void encode_transitions(const StageOptions& options, int clips, double curved);
struct DitOptions {
  std::filesystem::path tokenizer;  // sentencepiece model (spm_train on the prompt corpus)
  // Extra loss weight of the latent pixels the object covers (the latents
  // stage's "objects" masks); 0 is the plain mean squared error.
  double object_weight = 0;
  // A bundled model directory (an earlier export) whose encoder and DiT
  // weights start a fresh run instead of the random initialisation.
  std::filesystem::path init;
  // Share of the samples that learn conditioning on known latent frames, as
  // soragen's clip operations and TI2V's first-frame mask give them: those
  // frames stay clean, their tokens get timestep 0, and the loss skips them.
  double conditioning = 0;
  // Share of the samples drawn from transitions.safetensors, always with
  // frames known at both ends.
  double transitions = 0;
  // Share of the samples whose known frames already show the motion (2 or
  // more at the start: an extension's context) that get a prompt naming
  // another direction: a clip being extended keeps its own motion, so the
  // known frames, not the words, must decide it.
  double mismatched_prompts = 0;
};
void train_dit(const StageOptions& options, const DitOptions& dit);
// clips: training clips to probe; sample_steps: Euler steps from pure noise.
void probe_dit(const StageOptions& options, const std::filesystem::path& tokenizer, int clips, int sample_steps);
// vocab: the tokenizer's vocabulary size (the encoder's embedding rows).
void export_model(const std::filesystem::path& work, const std::filesystem::path& tokenizer,
                  const std::filesystem::path& out, int vocab);

}  // namespace soragen::train
