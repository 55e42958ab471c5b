# Finds the fixed dependencies. libtorch, FFmpeg and sentencepiece are always
# required (the library needs them); CLI11 and spdlog only for the command line
# and the tools. Point CMake at a PyTorch libtorch as README.md ("Building")
# shows (docs/platform.md, trap 9).

find_package(Torch REQUIRED)
# PyTorch's libtorch.so (the PyPI wheel's, 2.x) exports its own copy of
# std::filesystem, linked in from the old toolchain it is built with. Linked
# in the usual order (libtorch before libstdc++), a program's
# std::filesystem::remove_all binds to that copy, which jumps to address 0.
# Naming libstdc++ before everything else makes the dynamic linker resolve
# the C++ runtime from libstdc++.so.6 itself.
if(Torch_VERSION VERSION_GREATER_EQUAL 2 AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  add_link_options("LINKER:--push-state,--no-as-needed" "-lstdc++" "LINKER:--pop-state")
endif()
# $<LINK_LIBRARY:SORAGEN_NO_AS_NEEDED,target> (CMake 3.24) links a library
# that no symbol of the program names (Debian's gcc passes --as-needed).
set(CMAKE_LINK_LIBRARY_USING_SORAGEN_NO_AS_NEEDED
    "LINKER:--push-state,--no-as-needed" "<LINK_ITEM>" "LINKER:--pop-state")
set(CMAKE_LINK_LIBRARY_USING_SORAGEN_NO_AS_NEEDED_SUPPORTED TRUE)

# Debian's libtorch runs its own loops on libgomp's OpenMP threads, and its
# matrix products in whichever OpenBLAS provides libblas.so.3. The pthreads
# build (Debian's preferred alternative) keeps a second pool of threads: on
# 2 cores each pool's idle threads spin while the other's work, and a DiT
# step runs 14% slower (bench_dit, 1.3B, 4 blocks, AVX2: 4.07 -> 3.50 s;
# umT5 4% slower). OpenBLAS's OpenMP build shares libgomp's pool. The engine
# links its libblas.so.3 and liblapack.so.3 by path, with their folder in the
# RPATH, so these are the ones loaded whatever the system's alternative is
# (libtorch's own request for the same sonames then finds them loaded).
# PyTorch's libtorch carries MKL and needs none of it.
set(SORAGEN_OPENMP_BLAS_LIBRARIES "")
if(NOT Torch_VERSION VERSION_GREATER_EQUAL 2 AND CMAKE_LIBRARY_ARCHITECTURE
   AND CMAKE_VERSION VERSION_GREATER_EQUAL 3.24)
  set(SORAGEN_OPENMP_BLAS_DIR "/usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp")
  if(EXISTS "${SORAGEN_OPENMP_BLAS_DIR}/libblas.so.3" AND EXISTS "${SORAGEN_OPENMP_BLAS_DIR}/liblapack.so.3")
    foreach(name blas lapack)
      add_library(soragen_openmp_${name} SHARED IMPORTED)
      set_target_properties(soragen_openmp_${name} PROPERTIES
        IMPORTED_LOCATION "${SORAGEN_OPENMP_BLAS_DIR}/lib${name}.so.3"
        IMPORTED_SONAME "lib${name}.so.3")
      # Nothing of soragen calls BLAS itself.
      list(APPEND SORAGEN_OPENMP_BLAS_LIBRARIES "$<LINK_LIBRARY:SORAGEN_NO_AS_NEEDED,soragen_openmp_${name}>")
    endforeach()
    message(STATUS "soragen: OpenBLAS's OpenMP build from ${SORAGEN_OPENMP_BLAS_DIR}")
  else()
    message(WARNING "soragen: ${SORAGEN_OPENMP_BLAS_DIR} is missing (Debian: libopenblas0-openmp); libtorch's "
                    "matrix products run in the system's libblas.so.3, which is slower beside its OpenMP threads")
  endif()
endif()
# nlohmann_json is header-only; the model core uses it for configs and headers.
find_package(nlohmann_json 3.9 REQUIRED)
find_package(Threads REQUIRED)

if(SORAGEN_BUILD_CLI OR SORAGEN_BUILD_TOOLS)
  find_package(CLI11 REQUIRED)
  find_package(spdlog REQUIRED)
endif()

# The library writes videos (FFmpeg) and tokenizes prompts (sentencepiece,
# through its shim): both are needed by every build.
find_package(PkgConfig REQUIRED)
pkg_check_modules(FFMPEG REQUIRED IMPORTED_TARGET libavformat libavcodec libavutil libswscale)
pkg_check_modules(SENTENCEPIECE REQUIRED IMPORTED_TARGET sentencepiece)

if(SORAGEN_BUILD_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
endif()
