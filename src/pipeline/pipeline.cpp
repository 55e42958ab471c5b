#include "soragen/pipeline.h"

#include "core/runtime.h"
#include "soragen/error.h"

namespace soragen {

const char* stage_name(Stage stage) {
  switch (stage) {
    case Stage::load: return "loading";
    case Stage::encode_text: return "text encoding";
    case Stage::denoise: return "denoising";
    case Stage::decode: return "VAE decoding";
    case Stage::write: return "writing";
  }
  return "unknown";
}

void validate_runtime(const RuntimeOptions& runtime) {
  const c10::Device device = core::parse_device(runtime.device);
  core::parse_dtype(runtime.dtype, device);
  if (runtime.threads < 0) throw UsageError("--threads " + std::to_string(runtime.threads) + ": must be 0 (all cores) or more");
}

struct Pipeline::Impl {
  ModelSource source;
  GenerationDefaults defaults;
};

Pipeline::Pipeline(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Pipeline::Pipeline(Pipeline&&) noexcept = default;
Pipeline& Pipeline::operator=(Pipeline&&) noexcept = default;
Pipeline::~Pipeline() = default;

const ModelSource& Pipeline::source() const { return impl_->source; }
const GenerationDefaults& Pipeline::defaults() const { return impl_->defaults; }

Pipeline Pipeline::load(const ModelSpec& spec, const RuntimeOptions& runtime, const Logger& logger) {
  validate_runtime(runtime);
  const ModelSource source = resolve_model(spec);
  const int threads = core::set_threads(runtime.threads);
  logger.debug("libtorch CPU threads: " + std::to_string(threads));
  logger.info(std::string("model: ") + source.name + " (" + model_kind_name(source.kind) + ") at " +
              source.directory.string());
  // The model core (umT5 encoder, Wan DiT, samplers, VAE) is not part of this
  // build yet; say so plainly instead of rendering anything fake.
  throw ModelError("model '" + source.name + "' (" + model_kind_name(source.kind) +
                   "): this build of soragen has no model core yet, so it cannot render");
}

VideoFrames Pipeline::generate(const ResolvedRequest& request, const ProgressCallback& progress,
                               const std::atomic<bool>* cancel) {
  throw ModelError("model '" + impl_->source.name + "': this build of soragen has no model core yet");
}

}  // namespace soragen
