// The libraries a soragen process runs on where the build chooses them, as
// nothing else would notice one being lost:
// - the BLAS of libtorch's matrix products: with Debian's libtorch, OpenBLAS's
//   OpenMP build (cmake/SoragenDependencies.cmake), which shares libgomp's
//   threads; the pthreads build the system may prefer costs a DiT step 14%;
// - malloc: tcmalloc (cmake/SoragenMalloc.cmake), which keeps freed tensors'
//   pages; glibc's maps and zeroes them again (the VAE decode ~20% slower).
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

namespace {

// Every mapped file of this process whose name holds `fragment`.
std::set<std::string> mapped_files_named(const std::string& fragment) {
  std::ifstream maps("/proc/self/maps");
  std::set<std::string> files;
  std::string line;
  while (std::getline(maps, line)) {
    const size_t slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    if (path.find(fragment) != std::string::npos) files.insert(path);
  }
  return files;
}

TEST(Blas, OpenBlasIsItsOpenMpBuild) {
#ifndef SORAGEN_OPENMP_BLAS_DIR
  GTEST_SKIP() << "this build does not pick the BLAS (PyTorch's libtorch carries MKL)";
#else
  const std::string dir = std::filesystem::canonical(SORAGEN_OPENMP_BLAS_DIR).string() + "/";
  const std::set<std::string> openblas = mapped_files_named("openblas");
  ASSERT_FALSE(openblas.empty()) << "no OpenBLAS library is loaded";
  for (const std::string& file : openblas) {
    EXPECT_EQ(std::filesystem::canonical(file).string().rfind(dir, 0), 0u) << file << " is not from " << dir;
  }
#endif
}

TEST(Malloc, IsTcmalloc) {
#ifndef SORAGEN_TCMALLOC_LIBRARY
  GTEST_SKIP() << "this build keeps the C library's malloc (a sanitizer build, or tcmalloc not installed)";
#else
  // The malloc this executable calls is the one its symbol resolves to.
  void* (*const resolved_malloc)(size_t) = &std::malloc;
  Dl_info info{};
  ASSERT_NE(dladdr(reinterpret_cast<void*>(resolved_malloc), &info), 0);
  ASSERT_NE(info.dli_fname, nullptr);
  EXPECT_EQ(std::filesystem::canonical(info.dli_fname), std::filesystem::canonical(SORAGEN_TCMALLOC_LIBRARY))
      << "malloc comes from " << info.dli_fname;
#endif
}

}  // namespace
