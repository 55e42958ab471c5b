#include "io/safetensors.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "io/dtypes.h"
#include "io/json_depth.h"
#include "io/mapped_file.h"
#include "soragen/error.h"

namespace soragen::io {
namespace {

// JSON nesting deeper than this is no safetensors header; refusing it before
// parsing keeps a hostile file from costing memory in the parser.
constexpr int kMaxJsonDepth = 64;

struct Entry {
  const DtypeSpec* spec = nullptr;
  uint64_t begin = 0;  // relative to the data area
  uint64_t end = 0;
};

class SafetensorsSource final : public TensorSource {
 public:
  SafetensorsSource(std::shared_ptr<const MappedFile> file, const SafetensorsLimits& limits)
      : TensorSource(file->path()), file_(std::move(file)), limits_(limits) {
    parse_header();
  }

  std::string format() const override { return "safetensors"; }

  at::Tensor load(const std::string& name) const override {
    const TensorInfo& meta = info(name);
    const Entry& entry = entries_.at(name);
    const uint8_t* bytes = file_->data() + data_start_ + entry.begin;
    const size_t nbytes = entry.end - entry.begin;
    if (nbytes == 0) {
      return at::empty(meta.shape, at::TensorOptions().dtype(entry.spec->type));
    }
    // The file may have shrunk since the header was read; reading the mapping
    // past its new end would raise SIGBUS (caught by io/bus_guard.h, but this
    // names the tensor).
    if (!file_->covers(data_start_ + entry.end)) {
      fail(name, "lies past the end of the file, which shrank after it was opened (truncated or overwritten?)");
    }
    // The mapping is kept alive by the tensor's deleter, so the tensor may
    // outlive this source.
    auto keep = file_;
    auto wrap = [&](at::ScalarType type) {
      return at::from_blob(const_cast<uint8_t*>(bytes), meta.shape, [keep](void*) {},
                           at::TensorOptions().dtype(type));
    };
    if (entry.spec->float8) return decode_float8(wrap(at::kByte), *entry.spec);
    // Offsets need not be aligned; vectorised kernels expect element
    // alignment, so an unaligned tensor is copied out instead.
    if (reinterpret_cast<uintptr_t>(bytes) % entry.spec->size == 0) return wrap(entry.spec->type);
    at::Tensor out = at::empty(meta.shape, at::TensorOptions().dtype(entry.spec->type));
    std::memcpy(out.data_ptr(), bytes, nbytes);
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const {
    throw ModelError(error_prefix() + problem);
  }
  [[noreturn]] void fail(const std::string& tensor, const std::string& problem) const {
    throw ModelError(error_prefix() + "tensor '" + tensor + "' " + problem);
  }

  void parse_header();
  void check_depth(const char* text, size_t n) const;
  void add_tensor(const std::string& name, const nlohmann::json& value, uint64_t data_size);

  std::shared_ptr<const MappedFile> file_;
  SafetensorsLimits limits_;
  size_t data_start_ = 0;
  std::map<std::string, Entry> entries_;
};

void SafetensorsSource::check_depth(const char* text, size_t n) const {
  if (json_nested_deeper_than(std::string_view(text, n), kMaxJsonDepth)) {
    fail("header JSON is nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
}

void SafetensorsSource::parse_header() {
  const size_t size = file_->size();
  if (size < 8) fail("file is " + std::to_string(size) + " bytes, too short for a safetensors header");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | file_->data()[i];
  if (header_len > kMaxSafetensorsHeaderBytes) {
    fail("header length " + std::to_string(header_len) + " exceeds the limit of " +
         std::to_string(kMaxSafetensorsHeaderBytes) + " bytes");
  }
  if (header_len > size - 8) {
    fail("header length " + std::to_string(header_len) + " runs past the end of the file (" +
         std::to_string(size) + " bytes, truncated?)");
  }
  const char* text = reinterpret_cast<const char*>(file_->data() + 8);
  check_depth(text, header_len);
  const nlohmann::json header = nlohmann::json::parse(text, text + header_len, nullptr, false);
  if (header.is_discarded()) fail("header is not valid JSON");
  if (!header.is_object()) fail("header is not a JSON object");
  data_start_ = 8 + header_len;
  const uint64_t data_size = size - data_start_;

  const size_t tensors = header.size() - (header.contains("__metadata__") ? 1 : 0);
  if (tensors > limits_.max_tensors) {
    fail("header lists " + std::to_string(tensors) + " tensors, more than the limit of " +
         std::to_string(limits_.max_tensors));
  }
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) fail("__metadata__ is not a JSON object");
      for (const auto& [key, text_value] : value.items()) {
        if (!text_value.is_string()) fail("__metadata__ entry '" + key + "' is not a string");
        metadata_[key] = text_value.get<std::string>();
      }
      continue;
    }
    add_tensor(name, value, data_size);
  }

  std::vector<std::pair<const std::string*, const Entry*>> by_offset;
  for (const auto& [name, entry] : entries_) {
    if (entry.end > entry.begin) by_offset.emplace_back(&name, &entry);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const auto& a, const auto& b) { return a.second->begin < b.second->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const auto& [prev_name, prev] = by_offset[i - 1];
    const auto& [name, entry] = by_offset[i];
    if (entry->begin < prev->end) {
      fail(*name, "has data offsets [" + std::to_string(entry->begin) + "," + std::to_string(entry->end) +
                      ") overlapping tensor '" + *prev_name + "' at [" + std::to_string(prev->begin) + "," +
                      std::to_string(prev->end) + ")");
    }
  }
}

void SafetensorsSource::add_tensor(const std::string& name, const nlohmann::json& value, uint64_t data_size) {
  if (!value.is_object()) fail(name, "is not described by a JSON object");
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!value.contains(key)) fail(name, std::string("has no '") + key + "'");
  }
  const auto& dtype = value["dtype"];
  if (!dtype.is_string()) fail(name, "has a dtype that is not a string");
  bool known = false;
  const DtypeSpec* spec = find_dtype(dtype.get<std::string>(), &known);
  if (!spec) {
    fail(name, std::string(known ? "has unsupported dtype '" : "has unknown dtype '") +
                   dtype.get<std::string>() + "'");
  }

  const auto& shape_json = value["shape"];
  if (!shape_json.is_array()) fail(name, "has a shape that is not an array");
  if (shape_json.size() > limits_.max_rank) {
    fail(name, "has " + std::to_string(shape_json.size()) + " dimensions, more than the limit of " +
                   std::to_string(limits_.max_rank));
  }
  TensorInfo info{name, spec->name, {}};
  uint64_t numel = 1;
  bool overflow = false;
  for (const auto& dim : shape_json) {
    if (!dim.is_number_integer()) fail(name, "has a shape with a non-integer dimension");
    if (!dim.is_number_unsigned()) fail(name, "has a negative dimension in its shape");
    const uint64_t d = dim.get<uint64_t>();
    if (d > static_cast<uint64_t>(INT64_MAX)) fail(name, "has a dimension too large");
    overflow = overflow || __builtin_mul_overflow(numel, d, &numel);
    info.shape.push_back(static_cast<int64_t>(d));
  }
  uint64_t expected_bytes = 0;
  overflow = overflow || __builtin_mul_overflow(numel, spec->size, &expected_bytes);
  if (overflow) fail(name, "has a shape " + format_shape(info.shape) + " whose size overflows");

  const auto& offsets = value["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    fail(name, "has data_offsets that are not two non-negative integers");
  }
  Entry entry{spec, offsets[0].get<uint64_t>(), offsets[1].get<uint64_t>()};
  const std::string range = "[" + std::to_string(entry.begin) + "," + std::to_string(entry.end) + ")";
  if (entry.end < entry.begin) fail(name, "has data offsets " + range + " that end before they begin");
  if (entry.end > data_size) {
    fail(name, "has data offsets " + range + " outside the data area of " + std::to_string(data_size) +
                   " bytes");
  }
  if (entry.end - entry.begin != expected_bytes) {
    fail(name, "has " + std::to_string(entry.end - entry.begin) + " bytes, expected " +
                   std::to_string(expected_bytes) + " for " + spec->name + " " + format_shape(info.shape));
  }
  entries_[name] = entry;
  infos_[name] = std::move(info);
}

}  // namespace

std::unique_ptr<TensorSource> open_safetensors(const std::filesystem::path& path) {
  return std::make_unique<SafetensorsSource>(MappedFile::open(path), SafetensorsLimits{});
}

std::unique_ptr<TensorSource> open_safetensors(std::shared_ptr<const MappedFile> file,
                                               const SafetensorsLimits& limits) {
  return std::make_unique<SafetensorsSource>(std::move(file), limits);
}

}  // namespace soragen::io
