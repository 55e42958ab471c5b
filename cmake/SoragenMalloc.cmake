# soragen's executables (the command line, the tools, the tests) allocate
# through gperftools' tcmalloc. glibc's malloc hands every block above its
# mmap threshold (32 MiB at most) back to the kernel when it is freed, so
# each large activation of the VAE and the DiT is a fresh mapping whose pages
# fault in and are zeroed again, every layer and every step. tcmalloc keeps
# freed spans for the next allocation (and returns idle ones gradually).
# Measured on 2 AVX2 cores (bench_vae 3 latent frames at 256x256, bench_dit
# 1.3B 4 blocks): VAE decode 39.9-41.5 -> 32.7-33.7 s with a lower peak RSS
# (2506 -> 2362 MiB); DiT step 3.64-4.01 -> 3.21-3.36 s. glibc with mmap off
# and no trimming was as fast but kept 24% more memory at its peak.
#
# libsoragen.so itself does not link it: an application picks its own
# allocator. Sanitizer builds keep theirs.
option(SORAGEN_TCMALLOC "Link soragen's executables with tcmalloc (libtcmalloc-minimal4) when it is installed"
       ${SORAGEN_TOP_LEVEL})
if(SORAGEN_SANITIZE OR SORAGEN_BUILD_FUZZERS OR CMAKE_VERSION VERSION_LESS 3.24)
  set(SORAGEN_TCMALLOC OFF)
endif()
# SORAGEN_TCMALLOC_LINKED: whether the executables get it (tests read it too).
set(SORAGEN_TCMALLOC_LINKED FALSE)
if(SORAGEN_TCMALLOC)
  find_library(SORAGEN_TCMALLOC_LIBRARY NAMES tcmalloc_minimal libtcmalloc_minimal.so.4)
  if(SORAGEN_TCMALLOC_LIBRARY)
    set(SORAGEN_TCMALLOC_LINKED TRUE)
    message(STATUS "soragen: executables allocate through ${SORAGEN_TCMALLOC_LIBRARY}")
  else()
    message(WARNING "soragen: tcmalloc not found (Debian: libtcmalloc-minimal4); the executables use glibc's "
                    "malloc, which maps and zeroes every large tensor again (the VAE decode is ~20% slower)")
  endif()
endif()

# Links tcmalloc into every executable defined in `dir` and below. Called once
# all targets exist, so no executable can be missed.
function(soragen_link_tcmalloc dir)
  if(NOT SORAGEN_TCMALLOC_LINKED)
    return()
  endif()
  get_property(targets DIRECTORY "${dir}" PROPERTY BUILDSYSTEM_TARGETS)
  foreach(target IN LISTS targets)
    get_target_property(type ${target} TYPE)
    if(type STREQUAL "EXECUTABLE")
      # Nothing names tcmalloc's symbols: it replaces malloc by coming first.
      target_link_libraries(${target} PRIVATE "$<LINK_LIBRARY:SORAGEN_NO_AS_NEEDED,${SORAGEN_TCMALLOC_LIBRARY}>")
    endif()
  endforeach()
  get_property(subdirs DIRECTORY "${dir}" PROPERTY SUBDIRECTORIES)
  foreach(subdir IN LISTS subdirs)
    soragen_link_tcmalloc("${subdir}")
  endforeach()
endfunction()
