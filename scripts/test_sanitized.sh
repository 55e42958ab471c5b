#!/usr/bin/env bash
# Builds soragen with AddressSanitizer + UndefinedBehaviorSanitizer
# (-DSORAGEN_SANITIZE=ON, gcc) in build-asan and runs the unit tests there
# once. Only the unit test binaries and the executables they run are built;
# libtorch, FFmpeg and sentencepiece stay uninstrumented.
#
#   scripts/test_sanitized.sh              # build + ctest -L unit
#   scripts/test_sanitized.sh -R io        # extra arguments go to ctest
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build=${SORAGEN_ASAN_BUILD_DIR:-build-asan}
jobs=${JOBS:-$(nproc)}
say() { printf 'test_sanitized: %s\n' "$*"; }

if [ ! -f "$build/build.ninja" ]; then
  say "configuring $build (ASan + UBSan)"
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSORAGEN_SANITIZE=ON
fi
# The unit-labelled test binaries (tests/*/CMakeLists.txt) and what they run.
targets=(test_core test_golden test_io test_tokenizer test_text_encoder test_dit_unit test_sampling_unit test_vae test_video
         test_cli test_pipeline_model_files test_denoise_loop test_world test_train test_distributed soragen_cli soragen-inspect
         soragen_spm)
say "building ${targets[*]}"
cmake --build "$build" -j "$jobs" --target "${targets[@]}"

# Leaks in uninstrumented libraries are theirs (tests/lsan.supp); any UB stops
# the test that hits it.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:check_initialization_order=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
cd "$build"
ctest --output-on-failure -j "$jobs" -L unit "$@"
