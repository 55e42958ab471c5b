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
