// The restricted unpickler on arbitrary bytes (a data.pkl). Never code
// execution, never a crash: every input ends in a list of tensor records or a
// ModelError.
#include <cstddef>
#include <cstdint>

#include "io/unpickler.h"
#include "soragen/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    (void)soragen::io::unpickle_state_dict(data, size, "fuzz: ");
  } catch (const soragen::ModelError&) {
  }
  return 0;
}
