// The BLAS libtorch's matrix products run in: with Debian's libtorch the
// build links OpenBLAS's OpenMP build (cmake/SoragenDependencies.cmake),
// which shares libgomp's threads with libtorch. The pthreads build that the
// system may prefer costs a DiT step 14% on 2 cores, and nothing else would
// notice it came back.
#include <gtest/gtest.h>

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

}  // namespace
