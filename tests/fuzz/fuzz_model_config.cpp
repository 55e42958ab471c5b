// A bundled model's model.json on arbitrary bytes: the JSON limits, the
// umT5, DiT and VAE config validation and the generation defaults.
#include <cstddef>
#include <cstdint>
#include <string>

#include "pipeline/model_manifest.h"
#include "soragen/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    (void)soragen::pipeline::parse_model_manifest(std::string(reinterpret_cast<const char*>(data), size),
                                                  "/fuzz/model.json");
  } catch (const soragen::ModelError&) {
  }
  return 0;
}
