#include "tokenizer/spm_library.h"

#include <dlfcn.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <system_error>
#include <utility>

#include "platform/object_directory.h"
#include "soragen/error.h"
#include "tokenizer/spm_shim_api.h"

#ifndef SORAGEN_SPM_SHIM_NAME
#error "SORAGEN_SPM_SHIM_NAME must name the shim's file (set by src/tokenizer/CMakeLists.txt)"
#endif

namespace soragen::tokenizer {
namespace {

constexpr const char* kShimEnv = "SORAGEN_SPM_SHIM";

// Internal linkage, so its address always lies in the object this loader is
// linked into (libsoragen.so, or an executable that links the tokenizer).
const char kLoaderAnchor = 0;

struct DlCloser {
  void operator()(void* handle) const { dlclose(handle); }
};
using LibraryHandle = std::unique_ptr<void, DlCloser>;

std::string quoted(const std::filesystem::path& path) { return "'" + path.string() + "'"; }

// dlerror() is per thread and cleared by reading it; may return null.
std::string last_dl_error() {
  const char* message = dlerror();
  return message != nullptr ? message : "unknown dynamic loader error";
}

}  // namespace

// The opened shim and its resolved entry points. Each function pointer has
// exactly the type spm_shim_api.h declares, so a signature change in the
// header cannot silently disagree with the loader.
struct SpmModel::Shim {
  std::filesystem::path path;
  LibraryHandle library;
  decltype(&soragen_spm_load) load = nullptr;
  decltype(&soragen_spm_free) free = nullptr;
  decltype(&soragen_spm_encode) encode = nullptr;
  decltype(&soragen_spm_piece_to_id) piece_to_id = nullptr;
  decltype(&soragen_spm_id_to_piece) id_to_piece = nullptr;
  decltype(&soragen_spm_vocab_size) vocab_size = nullptr;
  decltype(&soragen_spm_eos_id) eos_id = nullptr;
  decltype(&soragen_spm_pad_id) pad_id = nullptr;
  decltype(&soragen_spm_unk_id) unk_id = nullptr;

  template <typename Fn>
  void resolve(Fn& fn, const char* name) {
    void* symbol = dlsym(library.get(), name);
    if (symbol == nullptr) {
      throw ModelError("sentencepiece shim " + quoted(path) + " lacks the symbol '" + name +
                       "' (not a soragen_spm build?)");
    }
    fn = reinterpret_cast<Fn>(symbol);
  }

  static std::shared_ptr<const Shim> open(const std::filesystem::path& shim_path) {
#if defined(__SANITIZE_ADDRESS__)
    // Every dlmopen namespace takes static TLS for its own libc that is never
    // given back, and a few exhaust it; so sanitized builds open each shim
    // once per process and keep it.
    static std::mutex mutex;
    static std::map<std::filesystem::path, std::shared_ptr<const Shim>> opened;
    std::lock_guard<std::mutex> lock(mutex);
    auto& shim = opened[shim_path];
    if (!shim) shim = open_library(shim_path);
    return shim;
#else
    return open_library(shim_path);
#endif
  }

  static std::shared_ptr<const Shim> open_library(const std::filesystem::path& shim_path) {
    auto shim = std::make_shared<Shim>();
    shim->path = shim_path;
    // RTLD_LOCAL keeps sentencepiece's protobuf out of the global namespace;
    // RTLD_DEEPBIND makes sentencepiece resolve protobuf in itself first
    // rather than in libtorch's system protobuf already loaded.
#if defined(__SANITIZE_ADDRESS__)
    // AddressSanitizer aborts on RTLD_DEEPBIND (google/sanitizers#611). A
    // link-map namespace of its own isolates sentencepiece's protobuf just as
    // well; the shim is built uninstrumented for it (SoragenSanitizers.cmake).
    shim->library.reset(dlmopen(LM_ID_NEWLM, shim_path.c_str(), RTLD_NOW | RTLD_LOCAL));
#else
    shim->library.reset(dlopen(shim_path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND));
#endif
    if (!shim->library) {
      throw ModelError("sentencepiece shim " + quoted(shim_path) + " cannot be loaded: " + last_dl_error());
    }
    decltype(&soragen_spm_api_version) api_version = nullptr;
    shim->resolve(api_version, "soragen_spm_api_version");
    if (const int version = api_version(); version != SORAGEN_SPM_API_VERSION) {
      throw ModelError("sentencepiece shim " + quoted(shim_path) + " has API version " +
                       std::to_string(version) + ", this soragen needs " +
                       std::to_string(SORAGEN_SPM_API_VERSION) + "; rebuild soragen_spm");
    }
    shim->resolve(shim->load, "soragen_spm_load");
    shim->resolve(shim->free, "soragen_spm_free");
    shim->resolve(shim->encode, "soragen_spm_encode");
    shim->resolve(shim->piece_to_id, "soragen_spm_piece_to_id");
    shim->resolve(shim->id_to_piece, "soragen_spm_id_to_piece");
    shim->resolve(shim->vocab_size, "soragen_spm_vocab_size");
    shim->resolve(shim->eos_id, "soragen_spm_eos_id");
    shim->resolve(shim->pad_id, "soragen_spm_pad_id");
    shim->resolve(shim->unk_id, "soragen_spm_unk_id");
    return shim;
  }
};

std::vector<std::filesystem::path> spm_shim_candidates() {
  if (const char* env = std::getenv(kShimEnv); env != nullptr && *env != '\0') {
    return {std::filesystem::path(env)};
  }
  // The shim is installed beside libsoragen.so and built beside every binary
  // of the build tree, so the object holding this loader comes first (an
  // outside program linking libsoragen lives elsewhere), then the executable.
  std::vector<std::filesystem::path> candidates;
  const std::filesystem::path loader_dir = platform::object_directory(&kLoaderAnchor);
  if (!loader_dir.empty()) candidates.push_back(loader_dir / SORAGEN_SPM_SHIM_NAME);
  const std::filesystem::path exe_dir = platform::executable_directory();
  if (!exe_dir.empty()) candidates.push_back(exe_dir / SORAGEN_SPM_SHIM_NAME);
  return candidates;
}

std::filesystem::path find_spm_shim() {
  const auto candidates = spm_shim_candidates();
  std::string tried;
  for (const auto& candidate : candidates) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(candidate, ec)) return candidate;
    tried += (tried.empty() ? "" : ", ") + quoted(candidate);
  }
  const bool from_env = std::getenv(kShimEnv) != nullptr && *std::getenv(kShimEnv) != '\0';
  throw ModelError(std::string("sentencepiece shim (") + SORAGEN_SPM_SHIM_NAME + ") not found; looked at " +
                   tried + (from_env ? " (from $SORAGEN_SPM_SHIM)" : " (set $SORAGEN_SPM_SHIM to its path)"));
}

void SpmModel::ModelDeleter::operator()(soragen_spm* model) const {
  if (model != nullptr && free_fn != nullptr) free_fn(model);
}

SpmModel::SpmModel(std::shared_ptr<const Shim> shim, std::unique_ptr<soragen_spm, ModelDeleter> model,
                   std::filesystem::path path)
    : shim_(std::move(shim)), model_(std::move(model)), path_(std::move(path)) {}

SpmModel::SpmModel(SpmModel&&) noexcept = default;
// Not defaulted: member-wise assignment would replace shim_ first, and when
// that drops the last reference to the old library (always the case when
// each load has a link-map namespace of its own) the old model would then be
// freed through an unloaded library. The model goes first, as in ~SpmModel.
SpmModel& SpmModel::operator=(SpmModel&& other) noexcept {
  if (this != &other) {
    model_.reset();
    shim_ = std::move(other.shim_);
    model_ = std::move(other.model_);
    path_ = std::move(other.path_);
  }
  return *this;
}
SpmModel::~SpmModel() = default;

SpmModel SpmModel::load(const std::filesystem::path& model_path, const std::filesystem::path& shim_path) {
  // Checked here so that a missing file gets a plain message rather than
  // sentencepiece's errno text.
  std::error_code ec;
  if (!std::filesystem::exists(model_path, ec)) {
    throw ModelError("tokenizer model " + quoted(model_path) + " does not exist");
  }
  if (!std::filesystem::is_regular_file(model_path, ec)) {
    throw ModelError("tokenizer model " + quoted(model_path) + " is not a regular file");
  }
  auto shim = Shim::open(shim_path.empty() ? find_spm_shim() : shim_path);
  char error[512] = {};
  std::unique_ptr<soragen_spm, ModelDeleter> model(shim->load(model_path.c_str(), error, sizeof error),
                                                   ModelDeleter{shim->free});
  if (!model) {
    throw ModelError("tokenizer model " + quoted(model_path) +
                     " is not a valid sentencepiece model: " + error);
  }
  return SpmModel(std::move(shim), std::move(model), model_path);
}

std::vector<int32_t> SpmModel::encode(std::string_view text) const {
  // Pieces never outnumber the bytes of the normalised text; normalisation
  // can lengthen it (NFKC expands ligatures), hence the one retry.
  std::vector<int32_t> ids(text.size() + 8);
  char error[512] = {};
  for (int attempt = 0; attempt < 2; ++attempt) {
    const ptrdiff_t n =
        shim_->encode(model_.get(), text.data(), text.size(), ids.data(), ids.size(), error, sizeof error);
    if (n < 0) {
      throw ModelError("tokenizer model " + quoted(path_) + " failed to encode the prompt: " + error);
    }
    const auto count = static_cast<size_t>(n);
    if (count <= ids.size()) {
      ids.resize(count);
      return ids;
    }
    ids.resize(count);
  }
  throw ModelError("tokenizer model " + quoted(path_) + " gave a different piece count for the same text");
}

int32_t SpmModel::piece_to_id(std::string_view piece) const {
  return shim_->piece_to_id(model_.get(), piece.data(), piece.size());
}

std::string SpmModel::id_to_piece(int32_t id) const {
  const ptrdiff_t n = shim_->id_to_piece(model_.get(), id, nullptr, 0);
  if (n < 0) {
    throw UsageError("token id " + std::to_string(id) + " is outside the vocabulary of " + quoted(path_) +
                     " (size " + std::to_string(vocab_size()) + ")");
  }
  std::string piece(static_cast<size_t>(n) + 1, '\0');
  shim_->id_to_piece(model_.get(), id, piece.data(), piece.size());
  piece.resize(static_cast<size_t>(n));
  return piece;
}

int32_t SpmModel::vocab_size() const { return shim_->vocab_size(model_.get()); }
int32_t SpmModel::eos_id() const { return shim_->eos_id(model_.get()); }
int32_t SpmModel::pad_id() const { return shim_->pad_id(model_.get()); }
int32_t SpmModel::unk_id() const { return shim_->unk_id(model_.get()); }
const std::filesystem::path& SpmModel::shim_path() const { return shim_->path; }

}  // namespace soragen::tokenizer
