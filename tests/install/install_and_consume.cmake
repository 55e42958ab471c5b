# Run with cmake -P by tests/install/CMakeLists.txt. Installs soragen from
# SORAGEN_BUILD_DIR into WORK_DIR/prefix, builds the consumer project whose
# main.cpp is the example of the installed soragen.h, renders a video with the
# installed default model, and checks that nothing of the source or build
# tree (src/, torch, the internal libraries) reached the consumer.
cmake_minimum_required(VERSION 3.19)

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${ARGN}\n${out}\n${err}")
  endif()
  set(run_output "${out}" PARENT_SCOPE)
endfunction()

# Whatever the caller's environment points at, the consumer must find the
# models and the tokenizer shim through the installed library alone.
set(clean_env ${CMAKE_COMMAND} -E env --unset=SORAGEN_MODELS_DIR --unset=SORAGEN_SPM_SHIM)

file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")
run("cmake --install" ${CMAKE_COMMAND} --install "${SORAGEN_BUILD_DIR}" --prefix "${prefix}")
file(REAL_PATH "${prefix}" prefix)

foreach(file include/soragen/soragen.h include/soragen/pipeline.h lib/libsoragen.so.0
    lib/cmake/soragen/soragenConfig.cmake lib/cmake/soragen/soragenConfigVersion.cmake
    lib/cmake/soragen/soragenTargets.cmake share/soragen/models/default/model.json)
  if(NOT EXISTS "${prefix}/${file}")
    message(FATAL_ERROR "the install lacks ${file}")
  endif()
endforeach()

# main.cpp: the lines between the markers of soragen.h's usage comment, with
# their leading "// " removed.
file(READ "${prefix}/include/soragen/soragen.h" header)
set(begin_marker "// [example]\n")
string(FIND "${header}" "${begin_marker}" begin)
string(FIND "${header}" "// [/example]" end)
if(begin EQUAL -1 OR end EQUAL -1 OR end LESS begin)
  message(FATAL_ERROR "soragen.h has no // [example] ... // [/example] block")
endif()
string(LENGTH "${begin_marker}" marker_length)
math(EXPR begin "${begin} + ${marker_length}")
math(EXPR length "${end} - ${begin}")
string(SUBSTRING "${header}" ${begin} ${length} example)
string(REGEX REPLACE "\n// ?" "\n" example "\n${example}")
string(REGEX REPLACE "^\n" "" example "${example}")
set(consumer "${WORK_DIR}/consumer")
file(MAKE_DIRECTORY "${consumer}")
file(WRITE "${consumer}/main.cpp" "${example}")
configure_file("${CONSUMER_SOURCE_DIR}/CMakeLists.txt" "${consumer}/CMakeLists.txt" COPYONLY)

set(build "${WORK_DIR}/consumer-build")
set(configure -S "${consumer}" -B "${build}" -G "${GENERATOR}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
  "-DCMAKE_PREFIX_PATH=${prefix}" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON)
if(MAKE_PROGRAM)
  list(APPEND configure "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(BUILD_TYPE)
  list(APPEND configure "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}")
endif()
run("configuring the consumer" ${CMAKE_COMMAND} ${configure})
run("building the consumer" ${CMAKE_COMMAND} --build "${build}")

file(STRINGS "${build}/CMakeCache.txt" found REGEX "^soragen_DIR:")
string(FIND "${found}" "${prefix}/" at)
if(at EQUAL -1)
  message(FATAL_ERROR "the consumer found soragen elsewhere: ${found}")
endif()
# The consumer compiles against the installed include/ only: not src/, not
# the source tree's include/, not torch's headers.
file(READ "${build}/compile_commands.json" commands)
foreach(forbidden "${SORAGEN_SOURCE_DIR}/src" "${SORAGEN_SOURCE_DIR}/include" "torch")
  string(FIND "${commands}" "${forbidden}" at)
  if(NOT at EQUAL -1)
    message(FATAL_ERROR "the consumer's compile line names ${forbidden}:\n${commands}")
  endif()
endforeach()
# It links libsoragen alone: torch, FFmpeg and the internal libraries stay
# behind it.
file(GLOB_RECURSE link_files "${build}/*.ninja" "${build}/*link.txt")
foreach(link_file ${link_files})
  file(READ "${link_file}" link_text)
  foreach(forbidden torch c10 avcodec avformat soragen_engine soragen_video soragen_tokenizer)
    string(FIND "${link_text}" "${forbidden}" at)
    if(NOT at EQUAL -1)
      message(FATAL_ERROR "the consumer's build (${link_file}) names ${forbidden}")
    endif()
  endforeach()
endforeach()

set(video "${WORK_DIR}/consumer.mp4")
run("running the consumer" ${clean_env} "${build}/app" "a red circle moving to the right on a blue background"
  "${video}")
message(STATUS "${run_output}")
string(FIND "${run_output}" "with the model in ${prefix}/share/soragen/models/default" at)
if(at EQUAL -1)
  message(FATAL_ERROR "the consumer did not use the installed default model:\n${run_output}")
endif()
file(SIZE "${video}" size)
file(READ "${video}" head LIMIT 12 HEX)
# An MP4 opens with a box whose type (bytes 4-7) is "ftyp".
if(size EQUAL 0 OR NOT head MATCHES "^........66747970")
  message(FATAL_ERROR "${video} is not an MP4 (${size} bytes, starts ${head})")
endif()
message(STATUS "install.consumer: ${video}, ${size} bytes")
