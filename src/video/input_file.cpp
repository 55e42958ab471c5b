#include "video/input_file.h"

#include <fstream>

#include "soragen/error.h"

namespace fs = std::filesystem;

namespace soragen::video {

std::uintmax_t check_input_file(const fs::path& path, const std::string& where, const std::string& kind,
                                std::uintmax_t max_bytes) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw UsageError(where + ": no such file");
  if (fs::is_directory(path, ec)) throw UsageError(where + ": is a directory, expected " + kind + " file");
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec) throw UsageError(where + ": cannot be read: " + ec.message());
  if (size == 0) throw UsageError(where + ": is empty");
  if (size > max_bytes) {
    throw UsageError(where + ": is " + std::to_string(size) + " bytes, over the limit of " +
                     std::to_string(max_bytes) + " for " + kind);
  }
  if (!std::ifstream(path, std::ios::binary)) throw UsageError(where + ": cannot be read (no permission?)");
  return size;
}

}  // namespace soragen::video
