// A standalone umT5, DiT or VAE config.json on arbitrary bytes: the bounded
// JSON reader (io/json_file.h) and each config's validation. The first byte
// picks the config kind; the rest is the file.
#include <cstddef>
#include <cstdint>
#include <string>

#include "dit/config.h"
#include "io/json_file.h"
#include "soragen/error.h"
#include "text_encoder/umt5_config.h"
#include "vae/vae_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    const nlohmann::json config = soragen::io::parse_json_object(text, "config '/fuzz/config.json'");
    switch (data[0] % 3) {
      case 0: (void)soragen::text_encoder::UMT5Config::from_json(config, "fuzz umT5 config"); break;
      case 1: (void)soragen::dit::DitConfig::from_json(config, "fuzz DiT config"); break;
      default: (void)soragen::vae::VaeConfig::from_json(config, "fuzz VAE config"); break;
    }
  } catch (const soragen::ModelError&) {
  }
  return 0;
}
