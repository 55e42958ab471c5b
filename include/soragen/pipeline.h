// The text-to-video pipeline: built once from a model (so a batch loads the
// weights once), then asked for videos.
//
//   soragen::Pipeline pipe = soragen::Pipeline::load({"default"}, {}, logger);
//   soragen::GenerationRequest request;
//   request.prompt = "a small red circle moving to the right on a blue background";
//   soragen::ResolvedRequest resolved = soragen::resolve_request(request, pipe.defaults());
//   soragen::VideoFrames video = pipe.generate(resolved, on_progress, &stop_flag);
#pragma once

#include <atomic>
#include <filesystem>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "soragen/log.h"
#include "soragen/options.h"
#include "soragen/video.h"

namespace soragen {

class ProcessGroup;
struct ParallelPlan;

// The stages a render goes through, in order.
enum class Stage { load, encode_text, encode_image, encode_clip, denoise, decode, write };
const char* stage_name(Stage stage);

// step counts from 0 (stage begins) to total (stage done). Stages without
// steps report total = 1.
struct ProgressEvent {
  Stage stage = Stage::load;
  int step = 0;
  int total = 1;
  // On the event that ends a stage run on a CUDA device: the peak of the
  // device memory allocated during the stage, in bytes; -1 otherwise.
  int64_t device_peak_bytes = -1;
  // A video made in windows (long videos, extension, connect, loops): the
  // window this stage runs for, 1-based, of `windows`. 1 of 1 otherwise.
  int window = 1;
  int windows = 1;
};
using ProgressCallback = std::function<void(const ProgressEvent&)>;

// What --model (and the component flags) resolved to, for logging and for
// the file's metadata.
struct ModelSource {
  // The model family that reads it, as registered (src/pipeline/families/):
  // "bundled", "Wan2.1 official", "Wan2.1 diffusers", "component files".
  std::string family;
  std::string name;                 // bundled name, or the directory as given
  std::filesystem::path directory;  // where its files are
  ModelSpec spec;                   // what was asked for, component files included
};

// Names of the models that ship with soragen (directories with a model.json
// under the models folder).
std::vector<std::string> bundled_model_names();

// The models folder: $SORAGEN_MODELS_DIR, else the first of models/ beside
// or above the directory of libsoragen and share/soragen/models beside it
// (the install tree), then the same beside the executable.
std::filesystem::path models_directory();

// Resolves --model without loading any weight: a bundled name or a directory
// in a layout soragen knows, or the component files alone when all four are
// given. Throws UsageError for an unknown name (listing the known ones) and
// ModelError for a directory with nothing usable in it.
ModelSource resolve_model(const ModelSpec& spec);

// What a model takes, read from its configs before any weight loads.
struct ModelInputs {
  std::string kind = "t2v";    // t2v, ti2v (Wan2.2 TI2V-5B) or i2v (Wan2.2 I2V-A14B)
  bool image = false;          // takes --image
  bool needs_image = false;    // renders only from an image (I2V-A14B)
  bool last_image = false;     // takes --last-image
  bool two_experts = false;    // a high- and a low-noise DiT (Wan2.2 A14B): takes --guidance-high
  bool vae_tile = true;        // its VAE decodes in tiles (--vae-tile); the Wan2.2 VAE does not
  int vae_stride = 8;          // pixels per latent (16 for the Wan2.2 VAE)
  int vae_temporal = 4;        // frames per latent after the first
  int patch = 2;               // latents per DiT token side
  int size_multiple = 16;      // --width/--height of a text-to-video render: vae_stride x patch
  int dit_blocks = 30;         // DiT blocks (num_layers): what skip-layer guidance may skip
  // Step caching (--cache): the tables TeaCache and MagCache need, published
  // for the recognised Wan models or the model's own.
  std::string step_cache_model = "this DiT";  // the name those tables go by
  bool teacache = false;
  bool magcache = false;
  // A tiny preview decoder is at hand (model.json's "preview_decoder" or
  // --preview-decoder): --preview and --fast-decode work.
  bool preview_decoder = false;
  // The public TAEHV file that fits the model's VAE when it has none
  // ("taew2_1" for the Wan2.1 VAE, "taew2_2" for the Wan2.2 VAE); empty when
  // none does (the embedded default trains its own: soragen-train taehv).
  std::string public_preview_decoder;
};

struct ModelInfo {
  ModelSource source;
  GenerationDefaults defaults;
  ModelInputs inputs;
};

// resolve_model, then the model's configs and defaults: reads names, JSON
// and checkpoint headers, no weights. Throws as resolve_model does, and
// ModelError naming a missing or malformed file.
ModelInfo inspect_model(const ModelSpec& spec);

// Checks a resolved request against what the model takes, before any weight
// loads: an image for a text-only model, --last-image without --image, a
// size the model's VAE and patch grid cannot take, --guidance-high for one
// DiT, --vae-tile for the Wan2.2 VAE, --preview or --fast-decode without a
// preview decoder; checks that a --preview target can be written; and reads
// each image, so a missing or corrupt one fails here. `asked` is what
// `request` was resolved from (to tell a flag given from a default). Throws
// UsageError naming the flag (and the file), OutputError for a --preview
// target that cannot be written.
void check_request_for_model(const GenerationRequest& asked, const ResolvedRequest& request,
                             const ModelInputs& inputs, bool vae_tile = false);

// Checks --device, --dtype and --threads without loading anything. Throws
// UsageError naming the flag.
void validate_runtime(const RuntimeOptions& runtime);

class Pipeline {
 public:
  // Loads every weight the model needs. Throws ModelError naming the file;
  // libtorch's own failures (out of memory, ...) come as soragen::Error too.
  static Pipeline load(const ModelSpec& spec, const RuntimeOptions& runtime, const Logger& logger);

  Pipeline(Pipeline&&) noexcept;
  Pipeline& operator=(Pipeline&&) noexcept;
  ~Pipeline();

  const ModelSource& source() const;
  const GenerationDefaults& defaults() const;
  const ModelInputs& inputs() const;

  // Renders one video. `cancel`, when set during the run, stops it after the
  // current step with InterruptedError.
  VideoFrames generate(const ResolvedRequest& request, const ProgressCallback& progress,
                       const std::atomic<bool>* cancel = nullptr);

  // Parallel denoising: from now on every render is split over the ranks
  // of `group` as `plan` says (distributed.h: Ulysses over the tokens of
  // each DiT pass, CFG over its conditional and unconditional halves). Every
  // rank calls generate() with the same request and gets the same frames.
  // Collective: opens the plan's tensor channels. Throws UsageError when the
  // plan does not fit the group, or the model's attention heads do not
  // divide over the Ulysses ranks.
  void split_over(ProcessGroup& group, const ParallelPlan& plan);

  // Step-cache calibration, for a model without published TeaCache and
  // MagCache tables: from begin_step_cache_calibration() on, every render
  // runs every DiT block and records how the blocks' residual changes from
  // step to step; step_cache_calibration() fits the tables to what was
  // recorded and returns them as model.json's "step_cache" object (JSON
  // text), and ends the calibration. Throws UsageError when no render ran.
  void begin_step_cache_calibration();
  std::string step_cache_calibration();

 private:
  struct Impl;
  explicit Pipeline(std::unique_ptr<Impl> impl);
  // The bodies of load and generate; those two turn libtorch's own errors
  // into soragen::Error, so no c10::Error leaves the library.
  static Pipeline load_checked(const ModelSpec& spec, const RuntimeOptions& runtime, const Logger& logger);
  VideoFrames generate_checked(const ResolvedRequest& request, const ProgressCallback& progress,
                               const std::atomic<bool>* cancel);
  std::unique_ptr<Impl> impl_;
};

}  // namespace soragen
