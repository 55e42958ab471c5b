# The build tree looks like an install tree for data: `models` beside the
# binaries (where every executable, libsoragen.so and the tokenizer shim are
# built) links to the source tree's models/, so build/soragen, the tests and
# the tools find the bundled models the way an installed soragen does
# (src/pipeline/models_directory.cpp), with no source path compiled in.
set(SORAGEN_BUILD_MODELS_LINK "${CMAKE_LIBRARY_OUTPUT_DIRECTORY}/models")
if(IS_SYMLINK "${SORAGEN_BUILD_MODELS_LINK}" OR NOT EXISTS "${SORAGEN_BUILD_MODELS_LINK}")
  file(REMOVE "${SORAGEN_BUILD_MODELS_LINK}")
  file(CREATE_LINK "${PROJECT_SOURCE_DIR}/models" "${SORAGEN_BUILD_MODELS_LINK}" SYMBOLIC)
else()
  message(WARNING "soragen: ${SORAGEN_BUILD_MODELS_LINK} exists and is not a link; the build tree's "
    "binaries use it as their models folder")
endif()
