# One warnings function per target (the fmt/spdlog habit), so third-party
# headers do not inherit our flags.
function(soragen_set_warnings target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic
      -Wno-unused-parameter   # libtorch and FFmpeg callbacks
      -Wno-missing-field-initializers)
  endif()
  # Infinities are part of the samplers' algorithm (golden README, trap 23).
  target_compile_options(${target} PRIVATE -fno-fast-math)
endfunction()
