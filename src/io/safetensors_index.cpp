// Sharded checkpoints (what `save_pretrained` writes above a size limit):
// an index JSON maps each tensor to one of several .safetensors shards.
#include <nlohmann/json.hpp>

#include <utility>
#include <vector>

#include "io/mapped_file.h"
#include "io/safetensors.h"
#include "soragen/error.h"

namespace soragen::io {
namespace {

// An index is a few hundred KB even for 14B models.
constexpr uint64_t kMaxIndexBytes = 64ull << 20;

class ShardedSource final : public TensorSource {
 public:
  explicit ShardedSource(const std::filesystem::path& path) : TensorSource(path) { open_all(); }

  std::string format() const override { return "safetensors-index"; }

  at::Tensor load(const std::string& name) const override {
    info(name);  // the missing-name error
    return shards_.at(shard_of_.at(name))->load(name);
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const { throw ModelError(error_prefix() + problem); }

  void open_all();

  std::vector<std::unique_ptr<TensorSource>> shards_;
  std::map<std::string, size_t> shard_of_;
};

void ShardedSource::open_all() {
  const uint64_t size = check_readable_file(path_);
  if (size > kMaxIndexBytes) fail("index is " + std::to_string(size) + " bytes, more than an index can be");
  const std::string text = read_file_prefix(path_, static_cast<size_t>(size));
  const nlohmann::json index = nlohmann::json::parse(text, nullptr, false);
  if (index.is_discarded()) fail("index is not valid JSON");
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
    fail("index has no \"weight_map\" object");
  }
  if (index.contains("metadata") && index["metadata"].is_object()) {
    for (const auto& [key, value] : index["metadata"].items()) {
      metadata_[key] = value.is_string() ? value.get<std::string>() : value.dump();
    }
  }

  std::map<std::string, size_t> shard_index;
  const std::filesystem::path dir = path_.parent_path();
  for (const auto& [name, file_json] : index["weight_map"].items()) {
    if (!file_json.is_string()) fail("tensor '" + name + "' maps to a shard name that is not a string");
    const std::filesystem::path file = file_json.get<std::string>();
    // Shards live beside their index; an index must not point elsewhere.
    bool escapes = file.empty() || file.is_absolute();
    for (const auto& part : file) escapes = escapes || part == "..";
    if (escapes) fail("tensor '" + name + "' maps to shard '" + file.string() + "' outside the index's folder");
    auto [it, inserted] = shard_index.emplace(file.string(), shards_.size());
    if (inserted) {
      const std::filesystem::path shard_path = dir / file;
      std::error_code ec;
      if (!std::filesystem::exists(shard_path, ec)) {
        fail("shard '" + file.string() + "' (named for tensor '" + name + "') does not exist");
      }
      shards_.push_back(open_safetensors(shard_path));
    }
    const TensorSource& shard = *shards_[it->second];
    if (!shard.contains(name)) {
      fail("tensor '" + name + "' is not in its shard '" + file.string() + "'");
    }
    shard_of_[name] = it->second;
    infos_[name] = shard.info(name);
  }
  for (const auto& shard : shards_) {
    for (const auto& [key, value] : shard->metadata()) metadata_.emplace(key, value);
  }
}

}  // namespace

std::unique_ptr<TensorSource> open_safetensors_index(const std::filesystem::path& path) {
  return std::make_unique<ShardedSource>(path);
}

}  // namespace soragen::io
