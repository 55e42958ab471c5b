// soragen-inspect FILE [--json]: what a weights file holds, without loading
// any tensor data, and which component and layout it is (the same detection
// the loaders use). soragen-inspect DIR: the model family the folder is and
// the files that serve as each part. Exit codes follow soragen's: 2 usage,
// 3 unreadable weights or an unknown folder.
#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <utility>

#include "io/tensor_source.h"
#include "pipeline/component_files.h"
#include "pipeline/model_family.h"
#include "pipeline/model_files.h"
#include "soragen/error.h"
#include "soragen/pipeline.h"

namespace {

namespace pipeline = soragen::pipeline;

// "DiT (comfy layout)", or "unknown" for tensors of no known component.
std::string component_of(const soragen::io::TensorSource& source) {
  const auto match = pipeline::identify_component(source);
  return match ? std::string(pipeline::component_name(match->component)) + " (" + match->layout + " layout)"
               : std::string("unknown");
}

// A model folder: its family (as --model would resolve it) and its parts.
int inspect_folder(const std::string& dir, bool json) {
  const soragen::ModelSource source = soragen::resolve_model({dir});
  const pipeline::ModelFiles files = pipeline::locate_model_files(source);
  const std::pair<const char*, const std::filesystem::path*> parts[] = {
      {"tokenizer", &files.tokenizer}, {"text_encoder", &files.text_encoder}, {"dit", &files.dit}, {"vae", &files.vae}};
  // A two-expert model's low-noise expert and switch point; the VAE's kind,
  // since the Wan2.1 and Wan2.2 VAEs are not interchangeable.
  const std::string vae_kind = pipeline::vae_kind_name(files.vae_config);
  if (json) {
    nlohmann::json out = {{"directory", dir}, {"family", source.family}};
    for (const auto& [key, path] : parts) out[key] = path->string();
    out["dit_model_type"] = files.dit_config.model_type;
    if (files.two_experts()) {
      out["low_noise_dit"] = files.low_noise_dit.string();
      out["boundary"] = files.boundary;
    }
    out["vae_kind"] = vae_kind;
    if (!files.preview_decoder.empty()) out["preview_decoder"] = files.preview_decoder.string();
    std::cout << out.dump(2) << "\n";
  } else {
    std::printf("family: %s\n", source.family.c_str());
    for (const auto& [key, path] : parts) {
      std::printf("%s: %s\n", key, path->string().c_str());
      if (std::string(key) == "dit" && files.two_experts()) {
        std::printf("low_noise_dit: %s\n", files.low_noise_dit.string().c_str());
        std::printf("boundary: %g\n", files.boundary);
      }
    }
    std::printf("dit_model_type: %s\n", files.dit_config.model_type.c_str());
    std::printf("vae_kind: %s\n", vae_kind.c_str());
    if (!files.preview_decoder.empty()) std::printf("preview_decoder: %s\n", files.preview_decoder.string().c_str());
  }
  return 0;
}

void print_text(const soragen::io::TensorSource& source) {
  size_t name_width = 4, dtype_width = 5, shape_width = 5;
  for (const auto& [name, info] : source.infos()) {
    name_width = std::max(name_width, name.size());
    dtype_width = std::max(dtype_width, info.dtype.size());
    shape_width = std::max(shape_width, soragen::io::format_shape(info.shape).size());
  }
  std::printf("%-*s  %-*s  %-*s  %s\n", static_cast<int>(name_width), "NAME", static_cast<int>(dtype_width),
              "DTYPE", static_cast<int>(shape_width), "SHAPE", "PARAMS");
  int64_t total = 0;
  for (const auto& [name, info] : source.infos()) {
    std::printf("%-*s  %-*s  %-*s  %lld\n", static_cast<int>(name_width), name.c_str(),
                static_cast<int>(dtype_width), info.dtype.c_str(), static_cast<int>(shape_width),
                soragen::io::format_shape(info.shape).c_str(), static_cast<long long>(info.numel()));
    total += info.numel();
  }
  std::printf("total: %zu tensors, %lld parameters\n", source.size(), static_cast<long long>(total));
  std::string keys;
  for (const auto& [key, value] : source.metadata()) keys += (keys.empty() ? "" : ", ") + key;
  std::printf("metadata keys: %s\n", keys.empty() ? "(none)" : keys.c_str());
  std::printf("component: %s\n", component_of(source).c_str());
}

void print_json(const soragen::io::TensorSource& source) {
  nlohmann::json out;
  out["file"] = source.path().string();
  out["format"] = source.format();
  out["tensors"] = nlohmann::json::array();
  int64_t total = 0;
  for (const auto& [name, info] : source.infos()) {
    out["tensors"].push_back({{"name", name}, {"dtype", info.dtype}, {"shape", info.shape}, {"params", info.numel()}});
    total += info.numel();
  }
  out["tensor_count"] = source.size();
  out["total_parameters"] = total;
  out["metadata_keys"] = nlohmann::json::array();
  for (const auto& [key, value] : source.metadata()) out["metadata_keys"].push_back(key);
  if (const auto match = pipeline::identify_component(source)) {
    out["component"] = pipeline::component_name(match->component);
    out["layout"] = match->layout;
  } else {
    out["component"] = nullptr;
  }
  std::cout << out.dump(2) << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"List the tensors of a .safetensors, .safetensors.index.json or PyTorch .pth weights file and the "
               "component it holds, or the model family and parts of a weights folder."};
  std::string file;
  bool json = false;
  app.add_option("FILE", file, "weights file, or a model folder")->required();
  app.add_flag("--json", json, "print JSON instead of a table");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "soragen-inspect: " << e.what() << " (see --help)\n";
    return static_cast<int>(soragen::ExitCode::usage);
  }

  try {
    std::error_code ec;
    if (std::filesystem::is_directory(file, ec)) return inspect_folder(file, json);
    const auto source = soragen::io::open_weights(file);
    if (json) print_json(*source);
    else print_text(*source);
    return 0;
  } catch (const soragen::Error& e) {
    std::cerr << "soragen-inspect: " << e.what() << "\n";
    return static_cast<int>(e.exit_code());
  } catch (const c10::Error& e) {
    std::cerr << "soragen-inspect: " << e.what_without_backtrace() << "\n";
    return static_cast<int>(soragen::ExitCode::failure);
  } catch (const std::exception& e) {
    std::cerr << "soragen-inspect: " << e.what() << "\n";
    return static_cast<int>(soragen::ExitCode::failure);
  }
}
