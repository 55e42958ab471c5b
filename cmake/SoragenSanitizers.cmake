# SORAGEN_SANITIZE=ON: every target of this build is compiled and linked with
# AddressSanitizer + UndefinedBehaviorSanitizer (gcc or clang). libtorch,
# FFmpeg and sentencepiece stay uninstrumented; scripts/test_sanitized.sh sets
# the runtime options (leak suppressions for them, halt on UB).
if(SORAGEN_SANITIZE)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    message(FATAL_ERROR "SORAGEN_SANITIZE needs gcc or clang")
  endif()
  # -fno-sanitize-recover: a UB report fails the test instead of scrolling by.
  # vptr is off because libtorch's classes have no RTTI-compatible typeinfo
  # in every library and it reports false positives across the boundary.
  set(SORAGEN_SANITIZER_FLAGS -fsanitize=address,undefined -fno-sanitize=vptr
      -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  add_compile_options(${SORAGEN_SANITIZER_FLAGS})
  add_link_options(-fsanitize=address,undefined)
  # Optimised enough that the unit tests stay fast, debuggable enough for stacks.
  add_compile_options(-O1 -g1)
endif()

# For a target that must stay uninstrumented: the sentencepiece shim, which
# sanitized builds load into a link-map namespace of its own (dlmopen), where
# a second sanitizer runtime cannot start.
function(soragen_unsanitized target)
  if(SORAGEN_SANITIZE)
    set_property(TARGET ${target} PROPERTY COMPILE_OPTIONS "")
    set_property(TARGET ${target} PROPERTY LINK_OPTIONS "")
  endif()
endfunction()
