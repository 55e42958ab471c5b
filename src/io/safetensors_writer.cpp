#include "io/safetensors_writer.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "core/torch_compat.h"
#include "soragen/error.h"

namespace soragen::io {
namespace {

const char* safetensors_dtype(at::ScalarType type, const std::string& name, const std::filesystem::path& path) {
  switch (type) {
    case at::kFloat: return "F32";
    case at::kHalf: return "F16";
    case at::kBFloat16: return "BF16";
    case at::kDouble: return "F64";
    case at::kLong: return "I64";
    case at::kInt: return "I32";
    case at::kShort: return "I16";
    case at::kChar: return "I8";
    case at::kByte: return "U8";
    case at::kBool: return "BOOL";
#if SORAGEN_TORCH_HAS_FLOAT8
    case at::kFloat8_e4m3fn: return "F8_E4M3";
    case at::kFloat8_e5m2: return "F8_E5M2";
#endif
    default:
      throw ModelError("weights '" + path.string() + "': tensor '" + name + "' has dtype " +
                       c10::toString(type) + ", which safetensors cannot store");
  }
}

}  // namespace

void save_safetensors(const std::filesystem::path& path, const std::map<std::string, at::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata,
                      const std::set<std::string>& float8_e4m3) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<at::Tensor> blobs;
  int64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    const at::Tensor data = tensor.detach().to(at::kCPU).contiguous();
    const int64_t bytes = data.numel() * static_cast<int64_t>(data.element_size());
    const bool codes = float8_e4m3.count(name) != 0;
    if (codes && data.scalar_type() != at::kByte) {
      throw InternalError("weights '" + path.string() + "': tensor '" + name + "' as F8_E4M3 codes is not uint8");
    }
    header[name] = {{"dtype", codes ? "F8_E4M3" : safetensors_dtype(data.scalar_type(), name, path)},
                    {"shape", data.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    blobs.push_back(data);
  }
  std::string text = header.dump();
  text.resize((text.size() + 7) / 8 * 8, ' ');  // keeps the data area 8-byte aligned
  const uint64_t length = text.size();

  const std::filesystem::path temporary = path.string() + ".part-" + std::to_string(getpid());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) throw OutputError("weights '" + path.string() + "': cannot create '" + temporary.string() + "'");
    unsigned char prefix[8];
    for (int i = 0; i < 8; ++i) prefix[i] = static_cast<unsigned char>(length >> (8 * i));
    out.write(reinterpret_cast<const char*>(prefix), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const at::Tensor& blob : blobs) {
      out.write(static_cast<const char*>(blob.data_ptr()),
                static_cast<std::streamsize>(blob.numel() * static_cast<int64_t>(blob.element_size())));
    }
    out.flush();
    if (!out) {
      out.close();
      std::remove(temporary.c_str());
      throw OutputError("weights '" + path.string() + "': write failed (disk full?)");
    }
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) {
    std::remove(temporary.c_str());
    throw OutputError("weights '" + path.string() + "': cannot rename into place: " + ec.message());
  }
}

}  // namespace soragen::io
