// A torch.save zip archive on arbitrary bytes: our zip directory check,
// libtorch's zip reader, the restricted unpickler and every tensor load.
// Mutations inside data.pkl mostly break the zip's CRC; fuzz_unpickler
// covers the pickle on its own.
#include <cstddef>
#include <cstdint>
#include <string>

#include <ATen/ATen.h>

#include "io/mapped_file.h"
#include "io/pth.h"
#include "soragen/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = soragen::io::MappedFile::from_bytes("fuzz.pth", std::string(reinterpret_cast<const char*>(data), size));
  try {
    const auto source = soragen::io::open_pth(file);
    for (const auto& [name, info] : source->infos()) {
      const at::Tensor t = source->load(name);
      if (t.numel() > 0) (void)t.sum();
    }
  } catch (const soragen::ModelError&) {
  }
  return 0;
}
