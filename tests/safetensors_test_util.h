// Writes test checkpoints with the product's io::save_safetensors, plus the
// float8 tensors it cannot take from libtorch 1.13.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "io/safetensors_writer.h"

namespace soragen::test {

// io::save_safetensors(path, tensors), then the entries named in `float8`
// (uint8 tensors of float8_e4m3fn codes) are relabelled F8_E4M3, as in the
// fp8 checkpoints of Comfy; their bytes and offsets stay as written.
inline void save_safetensors_with_float8(const std::filesystem::path& path,
                                         const std::map<std::string, at::Tensor>& tensors,
                                         const std::set<std::string>& float8) {
  io::save_safetensors(path, tensors);
  if (float8.empty()) return;
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = length << 8 | static_cast<unsigned char>(bytes.at(i));
  nlohmann::ordered_json header = nlohmann::ordered_json::parse(bytes.substr(8, length));
  for (const std::string& name : float8) header.at(name).at("dtype") = "F8_E4M3";
  std::string text = header.dump();
  text.resize((text.size() + 7) / 8 * 8, ' ');
  std::string prefix(8, '\0');
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<char>(static_cast<uint64_t>(text.size()) >> (8 * i));
  std::ofstream(path, std::ios::binary | std::ios::trunc) << prefix << text << bytes.substr(8 + length);
}

}  // namespace soragen::test
