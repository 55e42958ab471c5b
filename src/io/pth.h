// PyTorch zip archives written by torch.save (>= 1.6): `<name>/data.pkl`
// describes the dict, `<name>/data/<key>` holds each storage's raw bytes.
// libtorch's own pickle reader returns None for an OrderedDict state dict
// (docs/platform.md, trap 4), so data.pkl goes through io/unpickler.h instead.
#pragma once

#include <filesystem>
#include <memory>

#include "io/tensor_source.h"

namespace soragen::io {

// Reads the archive's directory and data.pkl; storages are read per load().
// A storage shared by several tensors (views) is read once per tensor.
std::unique_ptr<TensorSource> open_pth(const std::filesystem::path& path);

// The same over a mapping or a buffer (MappedFile::from_bytes).
class MappedFile;
std::unique_ptr<TensorSource> open_pth(std::shared_ptr<const MappedFile> file);

// Archives with more records than this are refused (a state dict has one per
// storage: ~1,000 for the largest models).
constexpr size_t kMaxPthRecords = 1u << 20;
// A record may claim at most this many times the archive's size once
// inflated (torch.save stores records uncompressed; this stops zip bombs).
constexpr uint64_t kMaxPthInflation = 32;

}  // namespace soragen::io
