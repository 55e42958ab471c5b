// The C interface between soragen and its sentencepiece shim (soragen_spm).
//
// Why a shim: Debian's libsentencepiece carries and exports its own protobuf
// 3.14, libtorch links the system protobuf 3.21, and a process that links
// both crashes before main() (docs/platform.md, trap 1). So only the shim
// links sentencepiece, and soragen dlopen()s it with RTLD_LOCAL |
// RTLD_DEEPBIND, which keeps sentencepiece bound to its own protobuf copy.
// Nothing C++ crosses this boundary: no exceptions, no std:: types, so the two
// sides need not even share a standard library build.
//
// Both sides include this header: the shim defines these functions, the loader
// (spm_library.cpp) only takes their types with decltype and resolves them
// with dlsym().
#pragma once

#include <stddef.h>
#include <stdint.h>

// Bumped whenever a signature or a meaning below changes; the loader refuses
// a shim built from another version.
#define SORAGEN_SPM_API_VERSION 1

// The shim is built with hidden visibility; only these functions are exported.
#define SORAGEN_SPM_EXPORT __attribute__((visibility("default")))

#ifdef __cplusplus
extern "C" {
#endif

// An opaque loaded sentencepiece model.
typedef struct soragen_spm soragen_spm;

// SORAGEN_SPM_API_VERSION as the shim was built.
SORAGEN_SPM_EXPORT int soragen_spm_api_version(void);

// Loads a serialized sentencepiece model (spiece.model) from a file. On
// failure returns NULL and writes a NUL-terminated one-line reason (cut to
// error_size bytes) into error.
SORAGEN_SPM_EXPORT soragen_spm* soragen_spm_load(const char* path, char* error, size_t error_size);

// Frees a model from soragen_spm_load; NULL is allowed.
SORAGEN_SPM_EXPORT void soragen_spm_free(soragen_spm* model);

// Encodes text_size bytes of UTF-8 text (need not be NUL-terminated) to piece
// ids. Returns the number of ids; only the first `capacity` are written, so a
// result larger than capacity means: call again with a buffer that large.
// Returns -1 on failure with a reason in error.
SORAGEN_SPM_EXPORT ptrdiff_t soragen_spm_encode(const soragen_spm* model, const char* text, size_t text_size,
                                                int32_t* ids, size_t capacity, char* error,
                                                size_t error_size);

// The id of a piece, or the unknown id when the piece is not in the vocabulary.
SORAGEN_SPM_EXPORT int32_t soragen_spm_piece_to_id(const soragen_spm* model, const char* piece,
                                                   size_t piece_size);

// Copies the piece of `id` (UTF-8, NUL-terminated when it fits) into buffer and
// returns its length in bytes without the NUL, which may exceed buffer_size
// (then call again). Returns -1 when id is outside [0, vocab size).
SORAGEN_SPM_EXPORT ptrdiff_t soragen_spm_id_to_piece(const soragen_spm* model, int32_t id, char* buffer,
                                                     size_t buffer_size);

SORAGEN_SPM_EXPORT int32_t soragen_spm_vocab_size(const soragen_spm* model);

// Special ids as the model defines them; -1 when the model has none.
SORAGEN_SPM_EXPORT int32_t soragen_spm_eos_id(const soragen_spm* model);
SORAGEN_SPM_EXPORT int32_t soragen_spm_pad_id(const soragen_spm* model);
SORAGEN_SPM_EXPORT int32_t soragen_spm_unk_id(const soragen_spm* model);

#ifdef __cplusplus
}  // extern "C"
#endif
