// The safetensors header parser and lazy loader on arbitrary bytes: any
// outcome but ModelError (a crash, a sanitizer report, a hang, a huge
// allocation) is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include <ATen/ATen.h>

#include "io/mapped_file.h"
#include "io/safetensors.h"
#include "soragen/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = soragen::io::MappedFile::from_bytes("fuzz.safetensors",
                                                  std::string(reinterpret_cast<const char*>(data), size));
  try {
    const auto source = soragen::io::open_safetensors(file);
    // Loading reads every byte a tensor claims, so bad offsets show up here.
    for (const auto& [name, info] : source->infos()) {
      const at::Tensor t = source->load(name);
      if (t.numel() > 0) (void)t.sum();
    }
  } catch (const soragen::ModelError&) {
  }
  return 0;
}
