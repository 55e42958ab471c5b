#!/usr/bin/env bash
# End-to-end benchmark of `soragen` with the full-size Wan2.1 T2V 1.3B
# architecture (umT5-XXL encoder, 1.3B DiT, Wan2.1 VAE) and random weights:
# prints seconds per stage, seconds per denoising step and peak memory.
#
#   scripts/bench_pipeline.sh                                  # CPU: 9 frames 256x256, 3 steps, bf16
#   FRAMES=17 WIDTH=320 HEIGHT=192 scripts/bench_pipeline.sh
#   scripts/bench_pipeline.sh --device cuda                    # 81 frames 832x480 unless sizes are given
#
# The weights come from soragen-make-model (seeded random, bf16, about 14 GB:
# the 5.7B encoder alone is 11 GB) and are written once to MODEL_DIR, then
# reused. They are untrained: the video is noise; only the timings mean
# anything. Peak memory is the process's maximum RSS from /usr/bin/time -v
# (host memory; on CUDA the GPU's memory is not in it).
#
# bf16 is fast only where oneDNN has bf16 kernels (avx512_bf16/AMX, or CUDA).
# On an AVX2-only CPU libtorch 1.13's bf16 matmul runs at ~1.7 GFLOP/s, so
# the encoder's 2 x 512 tokens alone take over an hour: there, measure the
# DiT with `bench_dit --dtype bf16 --compute-dtype fp32` instead.
#
# Settings, as flags or environment variables (flags win):
#   --build-dir  BUILD_DIR  build tree with soragen and soragen-make-model [build]
#   --model-dir  MODEL_DIR  where the random model lives [/tmp/soragen-bench-1.3b]
#   --device     DEVICE     cpu or cuda[:N] [cpu]
#   --dtype      DTYPE      [bf16]
#   --threads    THREADS    CPU threads [all cores]
#   --frames --width --height --steps   FRAMES WIDTH HEIGHT STEPS
#                           [cpu: 9 256x256 3 steps; cuda: 81 832x480 10 steps]
#   --output     OUTPUT     the video [/tmp/soragen-bench.mp4]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

BUILD_DIR=${BUILD_DIR:-build}
MODEL_DIR=${MODEL_DIR:-/tmp/soragen-bench-1.3b}
DEVICE=${DEVICE:-cpu}
DTYPE=${DTYPE:-bf16}
THREADS=${THREADS:-}
FRAMES=${FRAMES:-}
WIDTH=${WIDTH:-}
HEIGHT=${HEIGHT:-}
STEPS=${STEPS:-}
OUTPUT=${OUTPUT:-/tmp/soragen-bench.mp4}

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  [[ $1 == -h || $1 == --help ]] && { usage; exit 0; }
  [[ $# -ge 2 ]] || { echo "bench_pipeline.sh: $1 needs a value" >&2; exit 2; }
  case $1 in
    --build-dir) BUILD_DIR=$2 ;;
    --model-dir) MODEL_DIR=$2 ;;
    --device) DEVICE=$2 ;;
    --dtype) DTYPE=$2 ;;
    --threads) THREADS=$2 ;;
    --frames) FRAMES=$2 ;;
    --width) WIDTH=$2 ;;
    --height) HEIGHT=$2 ;;
    --steps) STEPS=$2 ;;
    --output) OUTPUT=$2 ;;
    *) echo "bench_pipeline.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift 2
done
if [[ $DEVICE == cuda* ]]; then
  FRAMES=${FRAMES:-81} WIDTH=${WIDTH:-832} HEIGHT=${HEIGHT:-480} STEPS=${STEPS:-10}
else
  FRAMES=${FRAMES:-9} WIDTH=${WIDTH:-256} HEIGHT=${HEIGHT:-256} STEPS=${STEPS:-3}
fi
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$repo/$BUILD_DIR
for tool in soragen soragen-make-model; do
  [[ -x $BUILD_DIR/$tool ]] || {
    echo "bench_pipeline.sh: $BUILD_DIR/$tool not found; build it first (cmake --build $BUILD_DIR --target soragen_cli soragen-make-model)" >&2
    exit 1
  }
done

if [[ ! -f $MODEL_DIR/model.json ]]; then
  echo "== writing random full-size Wan2.1 1.3B weights (bf16, ~14 GB) to $MODEL_DIR"
  # Written beside the target and renamed at the end, so an interrupted run
  # never leaves a half-written model that a later run would reuse.
  partial="$MODEL_DIR.partial"
  rm -rf "$partial"
  start=$(date +%s)
  "$BUILD_DIR/soragen-make-model" --out "$partial" \
    --tokenizer "$repo/tests/data/spm/tiny.model" \
    --text-encoder-config "$repo/models/configs/umt5-xxl.json" \
    --dit-config "$repo/models/configs/wan2.1-t2v-1.3b.json" \
    --vae-config "$repo/models/configs/wan2.1-vae.json" \
    --dtype bf16 \
    --notice "random benchmark weights (scripts/bench_pipeline.sh): full Wan2.1 1.3B sizes, untrained; the video is noise"
  mv "$partial" "$MODEL_DIR"
  echo "   written in $(($(date +%s) - start)) s: $(du -sh "$MODEL_DIR" | cut -f1)"
else
  echo "== reusing $MODEL_DIR"
fi

log=$(mktemp /tmp/soragen-bench.XXXXXX.log)
time_log="${log%.log}.time"
cmd=("$BUILD_DIR/soragen" --model "$MODEL_DIR" --prompt "a red fox running through fresh snow, cinematic"
     --device "$DEVICE" --dtype "$DTYPE" -v --seed 1
     --steps "$STEPS" --frames "$FRAMES" --width "$WIDTH" --height "$HEIGHT" -o "$OUTPUT")
[[ -n $THREADS ]] && cmd+=(--threads "$THREADS")
echo "== ${FRAMES} frames ${WIDTH}x${HEIGHT}, ${STEPS} steps, $DTYPE on $DEVICE (log: $log)"
echo "   ${cmd[*]}"
status=0
/usr/bin/time -v -o "$time_log" "${cmd[@]}" 2>&1 | tee "$log" || status=$?
[[ $status -eq 0 ]] || { echo "bench_pipeline.sh: soragen failed ($status), see $log" >&2; exit "$status"; }

# "timings: loading 12.3 s, text encoding 4.5 s, denoising 300.1 s, ..."
timings=$(grep -o 'timings: .*' "$log" | tail -1 | sed 's/^timings: //')
denoise=$(grep -o 'denoising [0-9.]* s' <<<"$timings" | awk '{print $2}')
peak_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$time_log")
wall=$(awk -F': ' '/Elapsed \(wall clock\) time/ {print $2}' "$time_log")
echo
echo "== summary: ${FRAMES} frames ${WIDTH}x${HEIGHT}, ${STEPS} steps, $DTYPE on $DEVICE"
echo "stages:         ${timings:-(no timings line: is soragen too old for -v timings?)}"
[[ -n $denoise ]] && awk -v d="$denoise" -v n="$STEPS" 'BEGIN { printf "per step:       %.2f s (CFG batch of 2)\n", d / n }'
echo "wall clock:     $wall"
[[ -n $peak_kb ]] && awk -v k="$peak_kb" 'BEGIN { printf "peak RSS:       %.0f MiB\n", k / 1024 }'
echo "video:          $OUTPUT"
