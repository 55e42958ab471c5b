#include "io/tensor_source.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "io/dtypes.h"
#include "io/mapped_file.h"
#include "io/pth.h"
#include "io/safetensors.h"
#include "soragen/error.h"

namespace soragen::io {

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string format_shape(const std::vector<int64_t>& shape) {
  return format_shape(at::IntArrayRef(shape));
}

std::string format_shape(at::IntArrayRef shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? "," : "") + std::to_string(shape[i]);
  return out + "]";
}

std::vector<std::string> TensorSource::names() const {
  std::vector<std::string> out;
  out.reserve(infos_.size());
  for (const auto& entry : infos_) out.push_back(entry.first);
  return out;
}

const TensorInfo& TensorSource::info(const std::string& name) const {
  const auto it = infos_.find(name);
  if (it == infos_.end()) throw ModelError(error_prefix() + "has no tensor '" + name + "'");
  return it->second;
}

std::string TensorSource::error_prefix() const { return "weights '" + path_.string() + "': "; }

MemorySource::MemorySource(std::filesystem::path label, std::map<std::string, at::Tensor> tensors)
    : TensorSource(std::move(label)), tensors_(std::move(tensors)) {
  for (const auto& [name, tensor] : tensors_) {
    infos_[name] = TensorInfo{name, safetensors_dtype_name(tensor.scalar_type()), tensor.sizes().vec()};
  }
}

at::Tensor MemorySource::load(const std::string& name) const {
  info(name);
  return tensors_.at(name);
}

std::unique_ptr<TensorSource> open_weights(const std::filesystem::path& path) {
  const std::string head = read_file_prefix(path, 16);
  const auto fail = [&](const std::string& problem) -> std::unique_ptr<TensorSource> {
    throw ModelError("weights '" + path.string() + "': " + problem);
  };
  if (head.size() >= 4 && std::memcmp(head.data(), "PK\x03\x04", 4) == 0) return open_pth(path);

  size_t first = 0;
  while (first < head.size() && std::isspace(static_cast<unsigned char>(head[first]))) ++first;
  const std::string name = path.filename().string();
  const bool index_name = name.size() > 11 && name.compare(name.size() - 11, 11, ".index.json") == 0;
  if (index_name || (first < head.size() && head[first] == '{')) return open_safetensors_index(path);

  // A damaged safetensors file is better told by its own detailed errors than
  // by "unknown format".
  const bool safetensors_name = path.extension() == ".safetensors";
  if ((head.size() >= 9 && head[8] == '{') || safetensors_name) return open_safetensors(path);
  if (head.size() >= 4 && std::memcmp(head.data(), "GGUF", 4) == 0) {
    return fail("is a GGUF file; soragen reads .safetensors and PyTorch .pth weights");
  }
  if (head.size() >= 2 && static_cast<unsigned char>(head[0]) == 0x80 && head[1] == 0x02) {
    return fail("is a legacy (pre-1.6, not zip) torch.save file; re-save it with a newer torch or as .safetensors");
  }
  if (head.empty()) return fail("is empty");
  return fail("is not a known weights format (expected .safetensors, .safetensors.index.json or a PyTorch .pth zip)");
}

}  // namespace soragen::io
