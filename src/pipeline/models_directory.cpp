// Where the bundled models and the model configs live. Nothing here is a
// path fixed at build time: the folder is found relative to the installed
// library (or the executable), so an install tree can move and an outside
// program linking libsoragen finds the data its library was installed with.
#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <vector>

#include "platform/object_directory.h"
#include "soragen/pipeline.h"

namespace fs = std::filesystem;

namespace soragen {
namespace {

// Internal linkage, so its address lies in libsoragen.so itself (or in the
// executable that links the library's code statically), never in a copy.
const char kLibraryAnchor = 0;

// The layouts a models folder is found in, relative to the directory of a
// binary: `models` beside it (the build tree links it there at configure
// time), `models` one up (an unpacked archive with bin/), and the install
// tree's share/soragen/models beside lib/ or bin/.
std::vector<fs::path> candidates_near(const fs::path& dir) {
  if (dir.empty()) return {};
  return {dir / "models", dir.parent_path() / "models", dir.parent_path() / "share" / "soragen" / "models"};
}

bool is_models_folder(const fs::path& dir) {
  std::error_code ec;
  return fs::is_directory(dir / "configs", ec);
}

}  // namespace

fs::path models_directory() {
  if (const char* env = std::getenv("SORAGEN_MODELS_DIR"); env && *env) return fs::path(env);
  // The library's own data first: an outside program's directory says nothing
  // about where soragen is installed.
  const fs::path library_dir = platform::object_directory(&kLibraryAnchor);
  const fs::path executable_dir = platform::executable_directory();
  for (const fs::path& dir : {library_dir, executable_dir}) {
    for (const fs::path& candidate : candidates_near(dir)) {
      if (is_models_folder(candidate)) return candidate;
    }
  }
  // None there: name where the install puts it, so that "no model.json"
  // messages point at the place to look.
  const fs::path base = library_dir.empty() ? executable_dir : library_dir;
  return base.parent_path() / "share" / "soragen" / "models";
}

}  // namespace soragen
