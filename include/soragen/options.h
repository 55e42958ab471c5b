// What a user asks for: the model, how to run it, and one generation request.
// Unset optionals take the model's defaults (Pipeline::defaults()).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace soragen {

// Where the weights come from: a bundled model name or a weights directory,
// and single component files or folders that replace that part of it.
struct ModelSpec {
  std::string model = "default";  // bundled name (see bundled_model_names()) or a directory
  // Each one set replaces that component of `model`; with all four set,
  // `model` is not used (Wan2.1 T2V defaults, the configs of models/configs/
  // or beside the files). A file or a folder, its layout detected.
  std::optional<std::filesystem::path> tokenizer;     // sentencepiece model (spiece.model)
  std::optional<std::filesystem::path> text_encoder;  // umT5 encoder weights
  std::optional<std::filesystem::path> dit;           // diffusion transformer weights
  std::optional<std::filesystem::path> vae;           // Wan2.1 or Wan2.2 VAE weights
  // A Wan2.2 A14B model's low-noise expert; `dit` is then the high-noise one.
  std::optional<std::filesystem::path> low_noise_dit;
  // A tiny decoder in the TAEHV design (taew2_1, taew2_2, or a bundled
  // model's own) for previews and fast decoding; replaces model.json's.
  std::optional<std::filesystem::path> preview_decoder;
  // Unexpected checkpoint tensors are an error instead of a warning.
  bool strict_weights = false;
  // LoRAs merged into the DiT as it loads, "FILE[:SCALE[:high|low|both]]"
  // each. A request whose `lora` differs reloads the DiT with its own.
  std::vector<std::string> loras;

  bool all_components_given() const { return tokenizer && text_encoder && dit && vae; }
};

// How to run: device, precision, threads.
struct RuntimeOptions {
  std::string device = "auto";  // auto | cpu | cuda | cuda:N
  std::string dtype = "auto";   // auto | bf16 | fp16 | fp32 (auto: bf16 on CUDA, fp32 on CPU)
  int threads = 0;              // CPU threads for libtorch; 0 = all cores
  std::string text_encoder_device = "auto";  // auto (= device) | cpu | cuda | cuda:N
  bool offload = false;         // keep each model in CPU memory except while it runs
  bool vae_tile = false;        // decode large frames in overlapping tiles (bounded memory)
  // A DiT file's float8 / int8 block weights (Comfy scaled fp8,
  // soragen-convert): auto keeps them as stored where the device has an fp8
  // GEMM and decodes them at load elsewhere; keep always keeps them (half of
  // bf16's memory; decoded per layer call where there is no fp8 GEMM);
  // decode always decodes them to --dtype at load.
  std::string fp8_weights = "auto";
  // Free the text encoder's weights right after the first request is encoded
  // (a single render); a batch keeps it for the next prompts.
  bool free_text_encoder_after_use = false;
};

// One video to generate.
struct GenerationRequest {
  std::string prompt;
  std::optional<std::string> negative_prompt;  // unset: the model's default negative prompt
  std::optional<int> frames;                   // 4k+1
  std::optional<int> width;                    // multiple of 16
  std::optional<int> height;                   // multiple of 16
  std::optional<double> fps;
  std::optional<int> steps;
  std::optional<double> guidance;              // classifier-free guidance scale
  std::optional<double> guidance_high;         // two-expert models: the high-noise expert's scale
  std::optional<double> shift;                 // flow-matching sigma shift
  std::optional<std::string> sampler;          // unipc | dpm++ | euler
  std::optional<std::string> guidance_method;  // cfg | cfg-zero-star | apg[:..] | slg[:..] | slg-sd35[:..]
  std::optional<std::uint64_t> seed;           // unset: random, and logged
  std::optional<std::string> cache;            // step caching: none | fbcache[:THRESHOLD]
  // Image to video (models that take one): the first frame, and for
  // I2V-A14B the last. PNG, JPEG or WebP.
  std::optional<std::string> image;
  std::optional<std::string> last_image;
  // What to do with clips (MP4, WebM, MOV); at most one of video, extend,
  // connect and loop.
  std::optional<std::string> video;             // video to video: re-render this clip
  std::optional<double> strength;               // with video: 0 keeps it, 1 is text to video
  std::optional<std::string> extend;            // continue this clip (--frames new frames)
  std::optional<bool> backward;                 // with extend: make what comes before it
  std::optional<std::vector<std::string>> connect;  // two clips: A, a transition, then B
  std::optional<bool> loop;                     // a clip whose last frame leads into its first
  // Long videos: --frames above the window are made as overlapping windows.
  std::optional<int> window;                    // frames a window renders at once, 4k+1
  std::optional<int> overlap;                   // frames of context a window or extension sees, 4k+1
  std::optional<bool> color_correct;            // match each window's colour statistics to the first's
  // LoRAs merged into the DiT: "FILE[:SCALE[:high|low|both]]" each (dit/lora.h).
  std::optional<std::vector<std::string>> lora;
  // While denoising, the tiny decoder's frames of the current denoised
  // estimate: an .mp4 file, or a folder ending in '/' for PNG frames,
  // replaced every `preview_every` steps and once more at the end.
  std::optional<std::string> preview;
  std::optional<int> preview_every;
  std::optional<bool> fast_decode;              // the final decode with the tiny decoder, not the VAE
};

// The model's defaults, which fill a request's unset fields.
struct GenerationDefaults {
  std::string negative_prompt;
  int frames = 81;
  int width = 832;
  int height = 480;
  double fps = 16.0;
  int steps = 50;
  double guidance = 5.0;
  // A two-expert model's high-noise expert (Wan2.2 A14B: the reference's
  // guide_scale[1]); `guidance` is the low-noise one's. Unused otherwise.
  double guidance_high = 5.0;
  double shift = 5.0;
  std::string sampler = "unipc";
  std::string guidance_method = "cfg";
  // Frames a long video renders at once: the model's frames unless its
  // defaults say otherwise.
  int window = 81;
};

// A request with every field decided.
struct ResolvedRequest {
  std::string prompt;
  std::string negative_prompt;
  int frames = 0;
  int width = 0;
  int height = 0;
  double fps = 0;
  int steps = 0;
  double guidance = 0;
  double guidance_high = 0;
  double shift = 0;
  std::string sampler;
  std::string guidance_method;  // as GenerationRequest::guidance_method
  std::uint64_t seed = 0;
  std::string cache = "none";  // as GenerationRequest::cache
  std::string image;       // empty: none
  std::string last_image;  // empty: none
  std::string video;       // empty: none
  double strength = 0.7;
  std::string extend;      // empty: none
  bool backward = false;
  std::vector<std::string> connect;  // empty, or the two clips
  bool loop = false;
  int window = 0;
  int overlap = 5;
  bool color_correct = false;
  std::vector<std::string> lora;  // empty: none
  std::string preview;            // empty: none
  int preview_every = 5;
  bool fast_decode = false;
};

// The samplers soragen implements, in the spelling the CLI takes.
inline constexpr const char* kSamplerNames[] = {"unipc", "dpm++", "euler"};

// Fills unset fields from the defaults and draws a random seed when none is
// given. Throws UsageError naming the flag when a value breaks a rule
// (frames 4k+1, width/height multiples of 16, positive steps, ...).
ResolvedRequest resolve_request(const GenerationRequest& request, const GenerationDefaults& defaults);

// Checks the rules of the fields that are set; resolve_request calls it too.
void validate_request(const GenerationRequest& request);

}  // namespace soragen
