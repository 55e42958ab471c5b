#include "soragen/pipeline.h"

#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <array>
#include <functional>
#include <optional>

#include "core/device_memory.h"
#include "core/runtime.h"
#include "core/torch_errors.h"
#include "distributed/ulysses.h"
#include "dit/lora.h"
#include "dit/quantized_linear.h"
#include "io/tensor_source.h"
#include "pipeline/clip_render.h"
#include "pipeline/component_files.h"
#include "pipeline/model_files.h"
#include "pipeline/model_inputs.h"
#include "pipeline/preview.h"
#include "pipeline/video_generator.h"
#include "soragen/distributed.h"
#include "soragen/error.h"
#include "soragen/output.h"
#include "tokenizer/tokenizer.h"
#include "vae/frames.h"
#include "vae/tiny_decoder.h"

namespace soragen {

const char* stage_name(Stage stage) {
  switch (stage) {
    case Stage::load: return "loading";
    case Stage::encode_text: return "text encoding";
    case Stage::encode_image: return "image encoding";
    case Stage::encode_clip: return "clip encoding";
    case Stage::denoise: return "denoising";
    case Stage::decode: return "VAE decoding";
    case Stage::write: return "writing";
  }
  return "unknown";
}

void validate_runtime(const RuntimeOptions& runtime) {
  const c10::Device device = core::parse_device(runtime.device);
  core::parse_dtype(runtime.dtype, device);
  if (runtime.text_encoder_device != "auto") {
    core::parse_device(runtime.text_encoder_device, "--text-encoder-device");
  }
  if (runtime.fp8_weights != "auto" && runtime.fp8_weights != "keep" && runtime.fp8_weights != "decode") {
    throw UsageError("--fp8-weights '" + runtime.fp8_weights + "': expected auto, keep or decode");
  }
  if (runtime.threads < 0) {
    throw UsageError("--threads " + std::to_string(runtime.threads) + ": must be 0 (all cores) or more");
  }
}

struct Pipeline::Impl {
  ModelSource source;
  GenerationDefaults defaults;
  std::optional<tokenizer::Tokenizer> tokenizer;
  std::unique_ptr<pipeline::VideoGenerator> t2v;
  ModelInputs inputs;
  RuntimeOptions runtime;
  Logger logger;
  // The DiTs with these LoRAs merged ("FILE[:SCALE[:EXPERT]]" each), and
  // what the DiTs hold now (nullopt: no DiT, a reload failed).
  std::function<std::vector<pipeline::DitExpert>(const std::vector<std::string>&)> make_experts;
  std::optional<std::vector<std::string>> loras;
  // Parallel denoising (split_over): this rank's Ulysses group and CFG pair.
  distributed::RenderChannels channels;
  // Whether this rank runs the text encoder: not the later members of a
  // Ulysses group, which receive the first member's contexts.
  bool encodes_prompts = true;
  // While calibrating the step caches: what the renders recorded.
  std::shared_ptr<dit::StepCacheCalibration> calibration;
};

namespace {

// Every member's rows [L_m, D_m] over `channel`; a member with nothing to
// give passes [0, 0]. The rows travel zero-padded to the longest and are
// trimmed back.
std::vector<at::Tensor> gather_rows(distributed::TensorChannel& channel, const at::Tensor& mine) {
  const std::vector<at::Tensor> shapes = channel.all_gather(at::tensor({mine.size(0), mine.size(1)}, at::kLong));
  int64_t rows = 0, columns = 0;
  for (const at::Tensor& shape : shapes) {
    rows = std::max(rows, shape[0].item<int64_t>());
    columns = std::max(columns, shape[1].item<int64_t>());
  }
  at::Tensor padded = at::zeros({rows, columns}, mine.options());
  padded.narrow(0, 0, mine.size(0)).narrow(1, 0, mine.size(1)).copy_(mine);
  std::vector<at::Tensor> gathered = channel.all_gather(padded);
  for (size_t m = 0; m < gathered.size(); ++m) {
    gathered[m] = gathered[m].narrow(0, 0, shapes[m][0].item<int64_t>()).narrow(1, 0, shapes[m][1].item<int64_t>());
  }
  return gathered;
}

}  // namespace

Pipeline::Pipeline(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Pipeline::Pipeline(Pipeline&&) noexcept = default;
Pipeline& Pipeline::operator=(Pipeline&&) noexcept = default;
Pipeline::~Pipeline() = default;

void Pipeline::begin_step_cache_calibration() {
  if (impl_->channels.ulysses || impl_->channels.cfg) {
    throw UsageError("step-cache calibration runs in one process, not in a split render");
  }
  impl_->calibration = std::make_shared<dit::StepCacheCalibration>();
  impl_->t2v->calibrate_step_cache(impl_->calibration);
}

std::string Pipeline::step_cache_calibration() {
  if (!impl_->calibration) throw UsageError("step-cache calibration was not begun");
  const std::shared_ptr<dit::StepCacheCalibration> calibration = std::move(impl_->calibration);
  impl_->t2v->calibrate_step_cache(nullptr);
  std::string model = impl_->source.name;
  return dit::to_json(calibration->tables(model)).dump(2);
}

void Pipeline::split_over(ProcessGroup& group, const ParallelPlan& plan) {
  check_parallel_plan(plan, group.world_size());
  if (plan.ulysses > 1) dit::check_sequence_parallel(impl_->t2v->dit()->config().num_heads, plan.ulysses);
  // The ranks loaded their weights in their own time: meet through the
  // store, which waits as long as they are alive, before Gloo's
  // connections, which wait only the rank timeout.
  group.all_gather("split " + parallel_text(plan), "");
  impl_->channels = distributed::open_render_channels(group, plan, impl_->t2v->device());
  if (const auto& cfg = impl_->channels.cfg) {
    impl_->t2v->split_guidance({cfg->rank(), [cfg](const at::Tensor& mine) { return cfg->all_gather(mine); }});
  }
  impl_->t2v->split_sequence(impl_->channels.ulysses);
  impl_->encodes_prompts = !impl_->channels.ulysses || impl_->channels.ulysses->rank() == 0;
  if (!impl_->encodes_prompts) {
    // umT5-XXL is 11 GB in bf16: the denoising gets that memory back.
    impl_->t2v->release_text_encoder();
    impl_->logger.debug("the first rank of this Ulysses group encodes the prompts: text encoder freed here");
  }
  const auto& everyone = impl_->channels.everyone;
  impl_->t2v->split_decode(
      {everyone->rank(), everyone->size(), [everyone](const at::Tensor& share) { return everyone->sum(share); }});
}

const ModelSource& Pipeline::source() const { return impl_->source; }
const GenerationDefaults& Pipeline::defaults() const { return impl_->defaults; }
const ModelInputs& Pipeline::inputs() const { return impl_->inputs; }

Pipeline Pipeline::load(const ModelSpec& spec, const RuntimeOptions& runtime, const Logger& logger) {
  return core::rethrow_torch_errors([&] { return load_checked(spec, runtime, logger); });
}

VideoFrames Pipeline::generate(const ResolvedRequest& request, const ProgressCallback& progress,
                               const std::atomic<bool>* cancel) {
  return core::rethrow_torch_errors([&] { return generate_checked(request, progress, cancel); });
}

Pipeline Pipeline::load_checked(const ModelSpec& spec, const RuntimeOptions& runtime, const Logger& logger) {
  validate_runtime(runtime);
  const c10::Device device = core::parse_device(runtime.device);
  const c10::ScalarType dtype = core::parse_dtype(runtime.dtype, device);
  const int threads = core::set_threads(runtime.threads);

  const c10::Device encoder_device =
      runtime.text_encoder_device == "auto" ? device
                                            : core::parse_device(runtime.text_encoder_device, "--text-encoder-device");

  auto impl = std::make_unique<Impl>();
  impl->logger = logger;
  impl->runtime = runtime;
  impl->source = resolve_model(spec);
  logger.info(std::string("model '") + impl->source.name + "' (" + impl->source.family + ") on " +
              device.str() + ", " + core::dtype_name(dtype) + ", " + std::to_string(threads) + " CPU threads");
  const pipeline::ModelFiles files = pipeline::locate_model_files(impl->source);
  if (!files.notice.empty()) logger.warn(files.notice);
  impl->defaults = files.defaults;

  const torch::NoGradGuard no_grad;
  logger.debug("tokenizer: " + files.tokenizer.string());
  impl->tokenizer.emplace(
      tokenizer::Tokenizer::load(files.tokenizer, static_cast<int>(files.text_encoder_config.text_len), logger));
  // A tokenizer given on its own must fit the text encoder before it loads.
  if (spec.tokenizer || spec.text_encoder) pipeline::check_vocabulary_fits(files, impl->tokenizer->vocab_size());

  logger.debug("text encoder: " + files.text_encoder.string());
  text_encoder::TextEncoderOptions encoder_options;
  // With --offload the encoder loads into CPU memory and visits its device
  // for each prompt; its matrix products are chosen for that device.
  const bool park_encoder = runtime.offload && !encoder_device.is_cpu();
  encoder_options.device = park_encoder ? c10::Device(c10::kCPU) : encoder_device;
  if (park_encoder) encoder_options.fp32_matmul = false;
  encoder_options.dtype = dtype;
  encoder_options.log = logger;
  encoder_options.strict_weights = spec.strict_weights;
  std::unique_ptr<text_encoder::TextEncoder> encoder;
  {
    const auto source = text_encoder::open_text_encoder_weights(files.text_encoder);
    encoder = text_encoder::load_text_encoder(*source, text_encoder::detect_text_encoder_layout(*source),
                                              files.text_encoder_config, encoder_options);
  }

  dit::DitLoadOptions dit_options;
  dit_options.weight_dtype = dtype;
  dit_options.strict_weights = spec.strict_weights;
  // Quantized block weights: kept as codes where the device multiplies fp8
  // (or when asked, to halve the memory), decoded at load otherwise. Kept
  // int8 codes on the CPU are multiplied by an int8 GEMM.
  const bool float8_matmul = dit::has_float8_matmul(device);
  if (runtime.fp8_weights == "keep" || (runtime.fp8_weights == "auto" && float8_matmul)) {
    dit_options.quantized = dit::QuantizedWeights::keep;
    if (float8_matmul) {
      dit_options.quantized_matmul = dit::QuantizedMatmul::scaled_mm;
    } else if (dit::has_int8_matmul(device)) {
      dit_options.quantized_matmul = dit::QuantizedMatmul::int8_mm;
    }
  }
  // Without a native bf16 GEMM (CPUs lacking avx512_bf16), libtorch 1.13
  // multiplies bf16 at ~1 GFLOP/s: keep the weights in bf16 and do the maths
  // in fp32, as the text encoder does.
  const at::ScalarType compute_dtype = core::matmul_dtype(device, dtype);
  if (compute_dtype != dtype) logger.info("this CPU has no fast bf16 matrix product: bf16 weights, fp32 arithmetic");
  // Each source is closed as soon as its weights are copied; the LoRAs meant
  // for this expert are merged right after.
  const auto load_dit = [dit_options, compute_dtype, logger](const std::filesystem::path& path,
                                                             const dit::DitConfig& config,
                                                             const std::vector<dit::LoraSpec>& loras) {
    dit::WanModel model{nullptr};
    {
      const auto source = io::open_weights(path);
      model = dit::load_dit(*source, dit::detect_dit_layout(*source), config, logger, dit_options);
    }
    for (const dit::LoraSpec& lora : loras) {
      const auto source = io::open_weights(lora.path);
      dit::merge_lora(*model, *source, lora.scale, logger);
    }
    model->run_options().compute_dtype = compute_dtype;
    return model;
  };
  if (files.two_experts()) {
    // Its header is checked now, so a low-noise expert that does not fit
    // fails before minutes of denoising.
    const auto source = io::open_weights(files.low_noise_dit);
    dit::check_config_against_weights(files.low_noise_dit_config, *source,
                                      dit::dit_key_map(dit::detect_dit_layout(*source)));
  }
  impl->make_experts = [files, load_dit, logger](const std::vector<std::string>& lora_texts) {
    std::vector<dit::LoraSpec> high, low;
    for (const std::string& text : lora_texts) {
      const dit::LoraSpec lora = dit::parse_lora_spec(text, files.two_experts());
      if (lora.expert != dit::LoraExpert::low) high.push_back(lora);
      if (lora.expert != dit::LoraExpert::high) low.push_back(lora);
    }
    std::vector<pipeline::DitExpert> experts;
    if (!files.two_experts()) {
      logger.debug("transformer: " + files.dit.string());
      experts.push_back({"DiT", 0, load_dit(files.dit, files.dit_config, high), nullptr});
      return experts;
    }
    // Wan2.2 A14B: the high-noise expert runs first and loads now; the
    // low-noise one loads when the first step below the boundary needs it.
    const double boundary = files.boundary * 1000.0;
    logger.debug("high-noise expert (t >= " + std::to_string(boundary) + "): " + files.dit.string());
    experts.push_back({"high-noise expert", boundary, load_dit(files.dit, files.dit_config, high), nullptr});
    experts.push_back({"low-noise expert", 0, dit::WanModel{nullptr},
                       [load_dit, path = files.low_noise_dit, config = files.low_noise_dit_config, low, logger] {
                         logger.info("loading the low-noise expert: " + path.string());
                         return load_dit(path, config, low);
                       }});
    return experts;
  };
  impl->loras = spec.loras;
  std::vector<pipeline::DitExpert> experts = impl->make_experts(spec.loras);

  // The reference runs the VAE in float32 whatever the DiT's dtype
  // (wan/text2video.py), and libtorch's bf16 conv3d is slow on CPUs.
  logger.debug("VAE: " + files.vae.string());
  vae::VaeLoadOptions vae_options;
  vae_options.dtype = at::kFloat;
  vae_options.strict_weights = spec.strict_weights;
  pipeline::VideoVae vae = [&]() -> pipeline::VideoVae {
    const auto source = io::open_weights(files.vae);
    const vae::VaeLayout layout = vae::detect_vae_layout(*source);
    if (const auto* config = std::get_if<vae::Vae22Config>(&files.vae_config)) {
      return vae::load_vae22(*source, layout, *config, logger, vae_options);
    }
    return vae::load_vae(*source, layout, std::get<vae::VaeConfig>(files.vae_config), logger, vae_options);
  }();

  impl->inputs = pipeline::model_inputs(files);
  impl->t2v = std::make_unique<pipeline::VideoGenerator>(std::move(encoder), std::move(experts), std::move(vae),
                                                         device, runtime.offload, encoder_device);
  impl->t2v->set_step_cache_tables(pipeline::step_cache_tables(files));
  if (!files.preview_decoder.empty()) {
    // A few MB: it stays on the device for every request that asks for it.
    logger.debug("preview decoder: " + files.preview_decoder.string());
    const auto source = io::open_weights(files.preview_decoder);
    vae::TinyDecoderLoadOptions options;
    options.dtype = at::kFloat;
    options.strict_weights = spec.strict_weights;
    impl->t2v->set_preview_decoder(
        vae::load_tiny_decoder(*source, *files.preview_decoder_config, logger, options));
  }
  return Pipeline(std::move(impl));
}

namespace {

// ids or mask as a [1, L] int64 tensor.
at::Tensor tokens_tensor(const std::vector<int64_t>& ids) {
  return at::tensor(ids, at::TensorOptions().dtype(at::kLong)).view({1, -1});
}

}  // namespace

VideoFrames Pipeline::generate_checked(const ResolvedRequest& request, const ProgressCallback& progress,
                                       const std::atomic<bool>* cancel) {
  Impl& impl = *impl_;
  const c10::Device device = impl.t2v->device();
  // Each stage's peak device memory goes with the event that ends it.
  const pipeline::WindowReport report_window = [&](Stage stage, int step, int total, int window, int windows) {
    if (step == 0) core::reset_peak_device_memory(device);
    ProgressEvent event{stage, step, total};
    event.window = window;
    event.windows = windows;
    if (step >= total) event.device_peak_bytes = core::peak_device_memory(device).value_or(-1);
    if (progress) progress(event);
  };
  const auto report = [&](Stage stage, int step, int total) { report_window(stage, step, total, 1, 1); };
  // The checks a caller may have made before loading (the CLI does), again:
  // a request must never reach the model unchecked.
  pipeline::check_resolved_for_model(request, impl.inputs, impl.runtime.vae_tile);
  if (request.lora != impl.loras) {
    // Merged weights cannot be unmerged exactly: the DiT loads again.
    impl.logger.info("this request's LoRAs differ from the loaded ones: reloading the DiT");
    report(Stage::load, 0, 1);
    impl.loras.reset();
    impl.t2v->reload_experts([&] { return impl.make_experts(request.lora); });
    impl.loras = request.lora;
    report(Stage::load, 1, 1);
  }
  const c10::InferenceMode inference;

  report(Stage::encode_text, 0, 1);
  const auto encode = [&](const std::string& text) {
    const tokenizer::Tokenized tokens = text.find_first_not_of(" \t\r\n") == std::string::npos
                                       ? impl.tokenizer->encode_empty()
                                       : impl.tokenizer->encode(text);
    return impl.t2v->encode(tokens_tensor(tokens.ids), tokens_tensor(tokens.mask));
  };
  if (impl.encodes_prompts && !impl.t2v->has_text_encoder()) {
    throw UsageError("this pipeline freed its text encoder after the first request (free_text_encoder_after_use)");
  }
  // Split over ranks, the encoder runs once per prompt in the job: member 0
  // of a Ulysses group encodes for the group, and each half of a CFG pair
  // encodes its own prompt (the pair's first the prompt, its second the
  // negative prompt); the contexts then cross the channels.
  const distributed::RenderChannels& channels = impl.channels;
  const auto encode_once = [&](const std::string& text) {
    if (!channels.ulysses) return encode(text);
    const bool encoder = channels.ulysses->rank() == 0;
    return gather_rows(channels.ulysses->channel(), encoder ? encode(text) : at::zeros({0, 0}))[0];
  };
  at::Tensor context, context_null;
  if (channels.cfg) {
    const bool conditional_half = channels.cfg->rank() == 0;
    const auto both = gather_rows(*channels.cfg, encode_once(conditional_half ? request.prompt : request.negative_prompt));
    context = both[0];
    context_null = both[1];
  } else {
    context = encode_once(request.prompt);
    context_null = encode_once(request.negative_prompt);
  }
  context = context.to(impl.t2v->device());
  context_null = context_null.to(impl.t2v->device());
  if (impl.runtime.free_text_encoder_after_use && impl.t2v->has_text_encoder()) impl.t2v->release_text_encoder();
  report(Stage::encode_text, 1, 1);
  if (cancel && cancel->load()) throw InterruptedError("interrupted after text encoding");

  pipeline::RenderSetup setup{*impl.t2v,
                              impl.inputs,
                              context,
                              context_null,
                              impl.runtime.vae_tile ? vae::TileOptions::automatic() : vae::TileOptions{},
                              impl.logger,
                              report_window,
                              cancel};
  // The ranks of a split render hold the same latents; the first one writes
  // the preview, as it writes the video.
  std::optional<pipeline::PreviewWriter> preview;
  const bool writes = !channels.everyone || channels.everyone->rank() == 0;
  if (!request.preview.empty() && writes) {
    preview.emplace(request.preview, request.fps, generation_metadata(request, impl.source), cancel);
    setup.preview = [&](const at::Tensor& x0, int step, int total, int window, int windows) {
      preview->write(vae::to_video_frames(impl.t2v->decode_fast(x0)), step, total, window, windows);
      impl.logger.debug("--preview '" + request.preview + "': step " + std::to_string(step) + "/" +
                        std::to_string(total) + (windows > 1 ? ", window " + std::to_string(window) : ""));
    };
  }
  return pipeline::render_request(request, setup);
}

}  // namespace soragen
