#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (-fsanitize=fuzzer,
# address,undefined) in build-fuzz and runs every target at once for the given
# time. Crashes, leaks, timeouts and out-of-memory inputs land in
# build-fuzz/crashes/<target>/; the grown corpus in build-fuzz/corpus/<target>/
# is reused by the next run.
#
#   scripts/fuzz.sh            # 60 s per target
#   scripts/fuzz.sh 1800       # 30 min per target
#   TARGETS="pth unpickler" JOBS=1 scripts/fuzz.sh 300
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${1:-60}
build=${SORAGEN_FUZZ_BUILD_DIR:-build-fuzz}
targets=(${TARGETS:-safetensors pth unpickler model_config json_config prompt_file})

if [ ! -f "$build/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSORAGEN_BUILD_FUZZERS=ON -DSORAGEN_BUILD_TESTS=OFF -DSORAGEN_BUILD_TOOLS=OFF \
    -DSORAGEN_BUILD_CLI=OFF
fi
cmake --build "$build" --target fuzzers -j "${JOBS:-2}"

rm -rf "$build/seeds"
python3 scripts/fuzz_seeds.py "$build/seeds"

# libtorch and its dependencies are not instrumented; what they allocate once
# at start-up is not ours to leak-check per input.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export OMP_NUM_THREADS=1

pids=()
for target in "${targets[@]}"; do
  mkdir -p "$build/crashes/$target" "$build/corpus/$target" "$build/logs"
  extra=()
  case $target in
    safetensors|model_config|json_config|prompt_file) extra=(-dict=tests/fuzz/json.dict) ;;
    # libtorch's zip reader leaks its state on every archive it refuses
    # (tests/lsan.supp), and libFuzzer then runs a full leak scan after each
    # such input: 15x slower. Our code on this path (MappedFile, unpickler)
    # is leak-checked by fuzz_safetensors and fuzz_unpickler.
    pth) extra=(-detect_leaks=0) ;;
  esac
  "$build/fuzz_$target" "${extra[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$build/crashes/$target/" \
    "$build/corpus/$target" "$build/seeds/$target" >"$build/logs/$target.log" 2>&1 &
  pids+=($!)
done

status=0
for i in "${!targets[@]}"; do
  wait "${pids[$i]}" || status=1
done

for target in "${targets[@]}"; do
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$build/logs/$target.log" | tail -1 | awk '{print $2}')
  found=$(find "$build/crashes/$target" -type f | wc -l)
  printf 'fuzz %-13s executions %-10s findings %s\n' "$target" "${execs:-?}" "$found"
done
exit $status
