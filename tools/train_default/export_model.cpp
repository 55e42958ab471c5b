// Stage 4: the bundled model directory soragen loads (pipeline/model_files):
// model.json with the configs and render defaults, the tokenizer, and the
// weights (the DiT's and encoder's moving averages, the VAE as trained, and
// when the taehv stage ran, the tiny preview decoder's moving average), and
// the step caches' tables when step_cache.json is there (written by
// `soragen-eval --calibrate-cache W/step_cache.json` on an earlier export).
#include <fstream>

#include "checkpoint.h"
#include "dit/step_cache_tables.h"
#include "configs.h"
#include "taehv.h"
#include "train.h"

namespace fs = std::filesystem;

namespace soragen::train {

void export_model(const fs::path& work, const fs::path& tokenizer, const fs::path& out, int vocab) {
  fs::create_directories(out);
  fs::copy_file(work / "vae.safetensors", out / "vae.safetensors", fs::copy_options::overwrite_existing);
  fs::copy_file(work / "dit_ema.safetensors", out / "dit.safetensors", fs::copy_options::overwrite_existing);
  fs::copy_file(work / "text_encoder_ema.safetensors", out / "text_encoder.safetensors",
                fs::copy_options::overwrite_existing);
  fs::copy_file(tokenizer, out / "spiece.model", fs::copy_options::overwrite_existing);

  nlohmann::ordered_json vae = vae_config();
  const nlohmann::json stats = read_json(work / "latent_stats.json");
  vae["latents_mean"] = stats["latents_mean"];
  vae["latents_std"] = stats["latents_std"];

  nlohmann::ordered_json model;
  model["name"] = "default";
  // No step count here: a run started with --init continues another run's
  // steps, and the model card (models/default/README.md) has the history.
  model["about"] = "soragen's embedded default: a tiny Wan-architecture model trained on procedural clips of "
                   "one coloured shape moving over a coloured background; see scripts/train_default_model.sh";
  model["tokenizer"] = "spiece.model";
  model["text_encoder"] = {{"weights", "text_encoder.safetensors"}, {"config", text_encoder_config(vocab)}};
  model["dit"] = {{"weights", "dit.safetensors"}, {"config", dit_config()}};
  model["vae"] = {{"weights", "vae.safetensors"}, {"config", vae}};
  // soragen checks the decoder against the VAE when the model loads; a
  // decoder trained for another VAE config fails there, naming the file.
  if (fs::exists(work / "taehv_ema.safetensors")) {
    fs::copy_file(work / "taehv_ema.safetensors", out / "preview_decoder.safetensors",
                  fs::copy_options::overwrite_existing);
    model["preview_decoder"] = {{"weights", "preview_decoder.safetensors"}, {"config", taehv_config().to_json()}};
  }
  if (fs::exists(work / "step_cache.json")) {
    const nlohmann::json tables = read_json(work / "step_cache.json");
    // Checked as soragen will read it, so a broken file fails here.
    dit::step_cache_tables_from_json(tables, "default", (work / "step_cache.json").string());
    model["step_cache"] = tables;
  }
  model["defaults"] = {{"frames", kFrames}, {"width", kSize}, {"height", kSize}, {"fps", 8}, {"steps", 20},
                       {"guidance", 5.0}, {"shift", kShift}, {"sampler", "unipc"}, {"negative_prompt", ""}};
  std::ofstream(out / "model.json") << model.dump(2) << "\n";
}

}  // namespace soragen::train
