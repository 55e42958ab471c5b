// soragen-inspect FILE [--json]: what a weights file holds, without loading
// any tensor data. Exit codes follow soragen's: 2 usage, 3 unreadable weights.
#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "io/tensor_source.h"
#include "soragen/error.h"

namespace {

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
  std::cout << out.dump(2) << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"List the tensors of a .safetensors, .safetensors.index.json or PyTorch .pth weights file."};
  std::string file;
  bool json = false;
  app.add_option("FILE", file, "weights file")->required();
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
