# `cmake --install` (SORAGEN_INSTALL): the public headers, libsoragen.so with
# the tokenizer shim beside it, the command line and the user-facing tools,
# the bundled models, and a CMake package so that an outside project writes
#   find_package(soragen REQUIRED)
#   target_link_libraries(app PRIVATE soragen::soragen)
# The exported target carries include/ and libsoragen.so only: torch, FFmpeg
# and the static internal libraries are linked into libsoragen privately.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(SORAGEN_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/soragen)

# RPATHs. soragen's own libraries are found relative to each binary
# ($ORIGIN), so the install tree can move. The directories of the libraries
# linked from outside this project (a PyTorch libtorch in a private prefix)
# stay absolute; system directories are left out by CMake.
file(RELATIVE_PATH SORAGEN_BIN_TO_LIB
  ${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR} ${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR})
set(SORAGEN_INSTALLED_PROGRAMS)
foreach(program soragen_cli soragen-inspect soragen-make-model soragen-convert)
  if(TARGET ${program})
    list(APPEND SORAGEN_INSTALLED_PROGRAMS ${program})
  endif()
endforeach()
if(SORAGEN_INSTALLED_PROGRAMS)
  set_target_properties(${SORAGEN_INSTALLED_PROGRAMS} PROPERTIES
    INSTALL_RPATH "$ORIGIN/${SORAGEN_BIN_TO_LIB}"
    INSTALL_RPATH_USE_LINK_PATH ON)
endif()
set_target_properties(soragen_lib soragen_spm PROPERTIES
  INSTALL_RPATH "$ORIGIN"
  INSTALL_RPATH_USE_LINK_PATH ON)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/soragen
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT soragen_development)

install(TARGETS soragen_lib EXPORT soragenTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT soragen_runtime NAMELINK_COMPONENT soragen_development)
# The shim is loaded with dlopen() from beside libsoragen.so
# (src/tokenizer/spm_library.cpp), never linked: it is not exported.
install(TARGETS soragen_spm LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT soragen_runtime)
if(SORAGEN_INSTALLED_PROGRAMS)  # the CLI and the tools users run (README.md, "Tools")
  install(TARGETS ${SORAGEN_INSTALLED_PROGRAMS} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT soragen_runtime)
endif()

# libsoragen looks for its models in <libdir>/../share/soragen/models
# (src/pipeline/models_directory.cpp).
install(DIRECTORY ${PROJECT_SOURCE_DIR}/models/
  DESTINATION ${CMAKE_INSTALL_DATADIR}/soragen/models COMPONENT soragen_runtime)

install(EXPORT soragenTargets NAMESPACE soragen::
  DESTINATION ${SORAGEN_INSTALL_CMAKEDIR} FILE soragenTargets.cmake COMPONENT soragen_development)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/soragenConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/soragenConfig.cmake
  INSTALL_DESTINATION ${SORAGEN_INSTALL_CMAKEDIR})
# The SONAME changes with the major version, and so does compatibility.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/soragenConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/soragenConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/soragenConfigVersion.cmake
  DESTINATION ${SORAGEN_INSTALL_CMAKEDIR} COMPONENT soragen_development)
