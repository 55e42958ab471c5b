// soragen_spm: the only code that links libsentencepiece (see spm_shim_api.h
// for why). Every entry point catches everything, because a C++ exception
// must not unwind through the C boundary into the loader.
#include "tokenizer/spm_shim_api.h"

#include <sentencepiece_processor.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

struct soragen_spm {
  sentencepiece::SentencePieceProcessor processor;
};

namespace {

// Copies message into the caller's buffer, cut to fit and kept on one line
// (sentencepiece's messages sometimes carry newlines).
void set_error(char* error, size_t error_size, const std::string& message) {
  if (error == nullptr || error_size == 0) return;
  size_t n = std::min(message.size(), error_size - 1);
  while (n > 0 && (message[n - 1] == ' ' || message[n - 1] == '\n')) --n;
  for (size_t i = 0; i < n; ++i) error[i] = (message[i] == '\n' || message[i] == '\r') ? ' ' : message[i];
  error[n] = '\0';
}

}  // namespace

extern "C" {

int soragen_spm_api_version(void) { return SORAGEN_SPM_API_VERSION; }

soragen_spm* soragen_spm_load(const char* path, char* error, size_t error_size) {
  try {
    auto model = std::make_unique<soragen_spm>();
    const auto status = model->processor.Load(path);
    if (!status.ok()) {
      set_error(error, error_size, status.ToString());
      return nullptr;
    }
    return model.release();
  } catch (const std::exception& e) {
    set_error(error, error_size, e.what());
  } catch (...) {
    set_error(error, error_size, "unknown C++ exception in sentencepiece");
  }
  return nullptr;
}

void soragen_spm_free(soragen_spm* model) { delete model; }

ptrdiff_t soragen_spm_encode(const soragen_spm* model, const char* text, size_t text_size, int32_t* ids,
                             size_t capacity, char* error, size_t error_size) {
  try {
    std::vector<int> pieces;
    const auto status = model->processor.Encode(absl::string_view(text, text_size), &pieces);
    if (!status.ok()) {
      set_error(error, error_size, status.ToString());
      return -1;
    }
    for (size_t i = 0; i < pieces.size() && i < capacity; ++i) ids[i] = pieces[i];
    return static_cast<ptrdiff_t>(pieces.size());
  } catch (const std::exception& e) {
    set_error(error, error_size, e.what());
  } catch (...) {
    set_error(error, error_size, "unknown C++ exception in sentencepiece");
  }
  return -1;
}

int32_t soragen_spm_piece_to_id(const soragen_spm* model, const char* piece, size_t piece_size) {
  try {
    return model->processor.PieceToId(absl::string_view(piece, piece_size));
  } catch (...) {
    return model->processor.unk_id();
  }
}

ptrdiff_t soragen_spm_id_to_piece(const soragen_spm* model, int32_t id, char* buffer, size_t buffer_size) {
  // sentencepiece indexes its piece table without a bounds check.
  if (id < 0 || id >= model->processor.GetPieceSize()) return -1;
  try {
    const std::string& piece = model->processor.IdToPiece(id);
    if (buffer != nullptr && buffer_size > piece.size()) {
      std::memcpy(buffer, piece.data(), piece.size());
      buffer[piece.size()] = '\0';
    }
    return static_cast<ptrdiff_t>(piece.size());
  } catch (...) {
    return -1;
  }
}

int32_t soragen_spm_vocab_size(const soragen_spm* model) { return model->processor.GetPieceSize(); }
int32_t soragen_spm_eos_id(const soragen_spm* model) { return model->processor.eos_id(); }
int32_t soragen_spm_pad_id(const soragen_spm* model) { return model->processor.pad_id(); }
int32_t soragen_spm_unk_id(const soragen_spm* model) { return model->processor.unk_id(); }

}  // extern "C"
