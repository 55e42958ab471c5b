// soragen-convert: writes a quantized copy of a DiT checkpoint, for smaller
// downloads and disks. The 2-D weights inside the transformer blocks (the
// attention and FFN matrices, nearly all of a Wan DiT) are quantized; every
// other tensor is copied as stored, and every name is kept, so the file has
// the input's layout (official, diffusers or Comfy-Org).
//
//   soragen-convert --to fp8 diffusion_pytorch_model.safetensors.index.json wan2.1_14B_fp8.safetensors
//   soragen-convert --to int8 wan2.1_t2v_1.3B_bf16.safetensors wan2.1_t2v_1.3B_int8.safetensors
//
//   fp8   float8 e4m3fn codes with one float32 scale per tensor (max|w| / 448)
//         as `<layer>.scale_weight`, and a `scaled_fp8` marker: Comfy's
//         "fp8_scaled" layout, which ComfyUI reads too.
//   int8  int8 codes with one float32 scale per output row (max|w_r| / 127),
//         the same layout with int8 codes (soragen's own).
// soragen reads both as code * scale and computes in --dtype as from any
// other file. Input: any weights file soragen reads (.safetensors, shard
// index, .pth), scaled-fp8 files included (requantized from their values).
#include <CLI/CLI.hpp>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "core/runtime.h"
#include "io/quantize.h"
#include "io/safetensors_writer.h"
#include "io/scaled_fp8.h"
#include "io/tensor_source.h"
#include "soragen/error.h"

namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A 2-D floating weight on a path through the transformer blocks:
// blocks.N.* (official, diffusers, Comfy's model.diffusion_model.blocks.N.*).
bool quantized(const std::string& name, const soragen::io::TensorInfo& info) {
  const bool floating = info.dtype == "F32" || info.dtype == "F16" || info.dtype == "BF16" ||
                        info.dtype == "F64" || info.dtype == "F8_E4M3" || info.dtype == "F8_E5M2";
  const bool in_blocks = name.rfind("blocks.", 0) == 0 || name.find(".blocks.") != std::string::npos;
  return floating && in_blocks && info.shape.size() == 2 && ends_with(name, ".weight");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Writes a DiT checkpoint with its block weights quantized to fp8 (Comfy scaled fp8) or int8."};
  std::string to, input, output;
  int threads = 0;
  bool force = false;
  app.add_option("--to", to, "fp8: e4m3fn, one scale per tensor; int8: one scale per output row")
      ->required()->check(CLI::IsMember({"fp8", "int8"}));
  app.add_option("input", input, "a DiT weights file: .safetensors, shard index (.json) or .pth")->required();
  app.add_option("output", output, "the .safetensors file to write")->required();
  app.add_option("--threads", threads, "CPU threads (0: all cores)");
  app.add_flag("-f,--force", force, "replace OUTPUT if it exists");
  CLI11_PARSE(app, argc, argv);

  try {
    soragen::core::set_threads(threads);
    if (fs::exists(output) && !force) {
      throw soragen::UsageError("output '" + output + "' exists; --force replaces it");
    }
    const fs::path folder = fs::path(output).parent_path();
    if (!folder.empty() && !fs::is_directory(folder)) {
      throw soragen::OutputError("output '" + output + "': folder '" + folder.string() + "' does not exist");
    }
    std::unique_ptr<soragen::io::TensorSource> source = soragen::io::open_weights(input);
    if (soragen::io::is_scaled_fp8(*source)) source = soragen::io::dequantize_scaled_fp8(std::move(source));

    const at::InferenceMode inference;
    std::map<std::string, at::Tensor> tensors;
    std::set<std::string> float8;
    int64_t count = 0, bytes_in = 0, bytes_out = 0;
    for (const auto& [name, info] : source->infos()) {
      const at::Tensor value = source->load(name);
      bytes_in += value.numel() * static_cast<int64_t>(value.element_size());
      if (!quantized(name, info)) {
        tensors[name] = value;
        bytes_out += value.numel() * static_cast<int64_t>(value.element_size());
        continue;
      }
      const std::string scale = name.substr(0, name.size() - 7) + ".scale_weight";
      const soragen::io::QuantizedWeight q =
          to == "fp8" ? soragen::io::quantize_fp8(value) : soragen::io::quantize_int8_rows(value);
      tensors[name] = q.codes;
      tensors[scale] = q.scale;
      if (to == "fp8") float8.insert(name);
      bytes_out += q.codes.numel() + q.scale.numel() * 4;
      ++count;
    }
    if (count == 0) {
      throw soragen::UsageError("input '" + input +
                                "': no 2-D weight inside transformer blocks (blocks.N.*): not a DiT checkpoint");
    }
    if (to == "fp8") {
      // Comfy's marker: an empty float8 tensor named scaled_fp8.
      tensors["scaled_fp8"] = at::empty({0}, at::kByte);
      float8.insert("scaled_fp8");
    }
    std::map<std::string, std::string> metadata = source->metadata();
    metadata["format"] = "pt";
    metadata["soragen_convert"] =
        to == "fp8" ? "block weights float8_e4m3fn, scale per tensor" : "block weights int8, scale per output row";
    soragen::io::save_safetensors(output, tensors, metadata, float8);
    std::printf("%s: %lld weights quantized to %s, %.1f MB -> %.1f MB\n", output.c_str(),
                static_cast<long long>(count), to.c_str(), static_cast<double>(bytes_in) / 1e6,
                static_cast<double>(bytes_out) / 1e6);
  } catch (const soragen::Error& e) {
    std::fprintf(stderr, "soragen-convert: %s\n", e.what());
    return static_cast<int>(e.exit_code());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "soragen-convert: %s\n", e.what());
    return 1;
  }
  return 0;
}
