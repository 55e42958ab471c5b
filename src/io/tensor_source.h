// One interface over every weights format, so model code asks for tensors by
// name and never cares whether they come from safetensors, a sharded index or
// a PyTorch .pth archive.
//
//   auto weights = soragen::io::open_weights("Wan2.1_VAE.pth");
//   for (const auto& name : weights->names()) { ... weights->info(name).shape ... }
//   at::Tensor w = weights->load("decoder.head.2.weight");   // CPU, read now
//
// Every problem (missing file, corrupt header, hostile pickle) is a
// soragen::ModelError whose what() is one line naming the file and the tensor.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace soragen::io {

struct TensorInfo {
  std::string name;
  std::string dtype;  // safetensors spelling: "F32", "BF16", "F8_E4M3", "I64", ...
  std::vector<int64_t> shape;

  int64_t numel() const;
};

// Shape as "[2,3]", the spelling used in every error message.
std::string format_shape(const std::vector<int64_t>& shape);
std::string format_shape(at::IntArrayRef shape);

class TensorSource {
 public:
  virtual ~TensorSource() = default;
  TensorSource(const TensorSource&) = delete;
  TensorSource& operator=(const TensorSource&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // "safetensors", "safetensors-index", "pth" or "memory".
  virtual std::string format() const = 0;

  // Sorted by name.
  std::vector<std::string> names() const;
  size_t size() const { return infos_.size(); }
  bool contains(const std::string& name) const { return infos_.count(name) != 0; }
  // Throws ModelError when the name is absent.
  const TensorInfo& info(const std::string& name) const;
  const std::map<std::string, TensorInfo>& infos() const { return infos_; }

  // A contiguous CPU tensor with the stored values, read when called (sources
  // are lazy). Float8 becomes float32 on libtorch < 2.1 (no float8 dtype
  // there). safetensors tensors are views of the file mapping (no copy; the
  // tensor keeps the mapping alive after the source is gone); the pages are
  // copy-on-write, so writing never touches the file, but two loads of one
  // name may share memory: clone() before modifying in place. .pth tensors
  // are fresh copies. Safe to call from several threads.
  virtual at::Tensor load(const std::string& name) const = 0;

  // safetensors `__metadata__` (string -> string); empty for .pth.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // "weights '<path>': " + message, the prefix of every error about this source.
  std::string error_prefix() const;

 protected:
  explicit TensorSource(std::filesystem::path path) : path_(std::move(path)) {}

  std::filesystem::path path_;
  std::map<std::string, TensorInfo> infos_;
  std::map<std::string, std::string> metadata_;
};

// Opens a .safetensors file, a *.safetensors.index.json of shards, or a
// PyTorch zip archive (.pth/.pt/.bin written by torch.save >= 1.6). The format
// is decided by the file's first bytes, not its name. Reads headers only.
std::unique_ptr<TensorSource> open_weights(const std::filesystem::path& path);

// Tensors already in memory (converted checkpoints, tests).
class MemorySource final : public TensorSource {
 public:
  MemorySource(std::filesystem::path label, std::map<std::string, at::Tensor> tensors);
  std::string format() const override { return "memory"; }
  at::Tensor load(const std::string& name) const override;

 private:
  std::map<std::string, at::Tensor> tensors_;
};

}  // namespace soragen::io
