// SpmModel: a sentencepiece model reached through the dlopen()ed shim
// (spm_shim_api.h explains why sentencepiece may not be linked directly).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct soragen_spm;

namespace soragen::tokenizer {

// Where the shim is looked for, in order: $SORAGEN_SPM_SHIM alone when set;
// otherwise beside the library or executable this loader is linked into
// (the install puts the module beside libsoragen.so, the build beside every
// binary), then beside the running executable.
std::vector<std::filesystem::path> spm_shim_candidates();

// The first candidate that exists; ModelError listing every place tried if none.
std::filesystem::path find_spm_shim();

class SpmModel {
 public:
  // Loads model_path through the shim at shim_path (found with find_spm_shim
  // when empty). ModelError names the file when either is missing or broken.
  static SpmModel load(const std::filesystem::path& model_path, const std::filesystem::path& shim_path = {});

  SpmModel(SpmModel&&) noexcept;
  SpmModel& operator=(SpmModel&&) noexcept;
  ~SpmModel();

  // Piece ids of UTF-8 text, as sentencepiece's Encode gives them (no EOS).
  std::vector<int32_t> encode(std::string_view text) const;
  // The unknown id for a piece outside the vocabulary.
  int32_t piece_to_id(std::string_view piece) const;
  // UsageError when id is outside [0, vocab_size()).
  std::string id_to_piece(int32_t id) const;

  int32_t vocab_size() const;
  int32_t eos_id() const;  // -1 when the model has none
  int32_t pad_id() const;  // -1 when the model has none
  int32_t unk_id() const;
  const std::filesystem::path& path() const { return path_; }
  const std::filesystem::path& shim_path() const;

 private:
  struct Shim;
  struct ModelDeleter {
    void (*free_fn)(soragen_spm*) = nullptr;
    void operator()(soragen_spm* model) const;
  };

  SpmModel(std::shared_ptr<const Shim> shim, std::unique_ptr<soragen_spm, ModelDeleter> model,
           std::filesystem::path path);

  // Declared before model_ so that the model is freed before the library
  // holding its code is closed.
  std::shared_ptr<const Shim> shim_;
  std::unique_ptr<soragen_spm, ModelDeleter> model_;
  std::filesystem::path path_;
};

}  // namespace soragen::tokenizer
