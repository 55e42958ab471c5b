#!/usr/bin/env bash
# Several soragen processes on this machine against one, side by side, in
# alternating runs: one render split over 2 processes (CFG parallelism,
# then Ulysses) against the same render in one, and a batch shared among N processes
# against the same batch in one. Whole-process wall seconds (load included),
# the median of the repeats, and each rank's denoising seconds from its -v
# timings. The processes meet as torchrun starts them (RANK, WORLD_SIZE,
# MASTER_ADDR, MASTER_PORT); the ranks of one machine share its cores.
#
#   scripts/bench_processes.sh                       # the embedded default
#   MODEL=~/Wan2.1-T2V-1.3B ARGS="--frames 33" PROCESSES=2 REPEATS=3 scripts/bench_processes.sh
#
# On a CPU every rank's threads come out of the same cores, so this measures
# the overheads (rendezvous, the Gloo exchange per step, a second model load)
# rather than the speed-up of several GPUs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build=${BUILD_DIR:-build}
model=${MODEL:-default}
processes=${PROCESSES:-2}
repeats=${REPEATS:-3}
items=${ITEMS:-8}
read -r -a extra <<<"${ARGS:-}"
prompt=${PROMPT:-"a small red circle moving to the right on a blue background"}
[ -x "$build/soragen" ] || { echo "bench_processes: $build/soragen is missing: build it first" >&2; exit 1; }
scratch=$(mktemp -d /tmp/soragen-bench-processes.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

for i in $(seq 1 "$items"); do echo "$prompt $i"; done >"$scratch/prompts.txt"

# run N ARGS...: N processes (1: a plain one), the N with the flags in
# `split`; prints wall seconds, then each rank's denoising seconds.
split=()
run() {
  local n=$1 start end port
  shift
  rm -rf "$scratch/out" && mkdir -p "$scratch/out"
  start=$(date +%s.%N)
  if [ "$n" = 1 ]; then
    "$build/soragen" --model "$model" "$@" "${extra[@]}" -v >"$scratch/rank0.log" 2>&1
  else
    port=$((20000 + RANDOM % 20000))
    local pids=()
    for ((r = 0; r < n; r++)); do
      RANK=$r WORLD_SIZE=$n LOCAL_RANK=$r LOCAL_WORLD_SIZE=$n MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
        "$build/soragen" --model "$model" "$@" "${split[@]}" "${extra[@]}" -v >"$scratch/rank$r.log" 2>&1 &
      pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid"; done
  fi
  end=$(date +%s.%N)
  local denoise=""
  for ((r = 0; r < n; r++)); do
    denoise+=" $(sed -n 's/.*timings: .*denoising \([0-9.]*\) s.*/\1/p' "$scratch/rank$r.log" | tail -n 1)"
  done
  echo "$(awk "BEGIN { print $end - $start }")$denoise"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# compare NAME N ARGS...: alternating runs of one process and N processes.
compare() {
  local name=$1 n=$2
  shift 2
  local one=() many=() one_denoise="" many_denoise=""
  for ((k = 0; k < repeats; k++)); do
    read -r wall rest < <(run 1 "$@")
    one+=("$wall")
    one_denoise=$rest
    read -r wall rest < <(run "$n" "$@")
    many+=("$wall")
    many_denoise=$rest
  done
  local a b
  a=$(printf '%s\n' "${one[@]}" | median)
  b=$(printf '%s\n' "${many[@]}" | median)
  printf '%-34s 1 process %7.2f s (denoising %s s) | %d processes %7.2f s (denoising per rank %s s) | %.2fx\n' \
    "$name" "$a" "$one_denoise" "$n" "$b" "$many_denoise" "$(awk "BEGIN { print $a / $b }")"
}

echo "bench_processes: model $model, $(nproc) cores, $repeats repeats, median wall seconds"
compare "one render, CFG-parallel" 2 --prompt "$prompt" --seed 1 -o "$scratch/out/one.mp4"
split=(--parallel ulysses=2)
compare "one render, Ulysses over 2" 2 --prompt "$prompt" --seed 1 -o "$scratch/out/one.mp4"
split=()
compare "batch of $items items, sharded" "$processes" --prompt-file "$scratch/prompts.txt" --seed 1 \
  -o "$scratch/out/{index:02}.mp4"
