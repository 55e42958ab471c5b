// The directory of the loaded file (shared library or executable) that holds
// a given address, so that soragen finds its data and its tokenizer shim
// relative to where it is installed rather than through a path fixed at
// build time. Header-only: it has no state, and the tokenizer (a static
// library of its own) and the public library both need it.
#pragma once

#include <dlfcn.h>
#include <link.h>

#include <filesystem>
#include <system_error>

namespace soragen::platform {

// The running executable's directory (/proc/self/exe has symlinks resolved);
// empty when /proc is not mounted.
inline std::filesystem::path executable_directory() {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path() : exe.parent_path();
}

// The directory of the object that `address` lies in. Pass the address of
// something with internal linkage (a static variable of the caller's .cpp):
// an exported symbol can be interposed by a copy in another object, and its
// address would then name that one. For the main program glibc's dladdr
// reports argv[0], which may be relative to a directory since left, so the
// executable goes through /proc/self/exe. Empty when nothing is known.
inline std::filesystem::path object_directory(const void* address) {
  Dl_info info{};
  link_map* map = nullptr;
  if (dladdr1(address, &info, reinterpret_cast<void**>(&map), RTLD_DL_LINKMAP) == 0 || map == nullptr) {
    return executable_directory();
  }
  if (map->l_name == nullptr || map->l_name[0] == '\0') return executable_directory();
  std::error_code ec;
  // Canonical: the file is often reached through its SONAME link; resolving
  // it keeps a link made elsewhere from moving the directory.
  const std::filesystem::path file = std::filesystem::canonical(map->l_name, ec);
  return ec ? std::filesystem::path(map->l_name).parent_path() : file.parent_path();
}

}  // namespace soragen::platform
