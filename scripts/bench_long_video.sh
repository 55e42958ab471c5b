#!/usr/bin/env bash
# Long videos on the embedded default: for a growing number of windows,
# seconds, peak memory (max RSS from /usr/bin/time -v) and the colour drift
# of the last window against the first, with and without --color-correct.
# Memory should stay flat in the window count: each window denoises and
# decodes its own 17 frames; only the 8-bit output frames accumulate
# (64x64x3 bytes each).
#
#   scripts/bench_long_video.sh [FRAMES ...]     (default: 17 65 161 481)
#
# BUILD_DIR (default build) holds soragen. Drift is what soragen logs for
# each window: the largest per-channel mean difference in [-1, 1] units and
# the largest change of the per-channel spread, against the first window.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${BUILD_DIR:-build}
frames_list=("$@")
[ ${#frames_list[@]} -gt 0 ] || frames_list=(17 65 161 481)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
prompt="a small red circle moving to the right on a blue background"
printf '%-7s %-8s %-9s %-9s %s\n' frames windows seconds "peak MiB" "last window drift (plain | --color-correct)"
for frames in "${frames_list[@]}"; do
  drift=()
  for correct in "" --color-correct; do
    /usr/bin/time -v "$build/soragen" --prompt "$prompt" --seed 6 --frames "$frames" $correct -v \
      -o "$out/long.mp4" >"$out/log" 2>&1
    last=$(grep -o 'colour drift against the first window: .*' "$out/log" | tail -1 | sed 's/.*window: //')
    drift+=("${last:-none (one window)}")
    if [ -z "$correct" ]; then
      seconds=$(grep 'Elapsed (wall clock)' "$out/log" | awk '{print $NF}')
      peak=$(( $(grep 'Maximum resident set size' "$out/log" | awk '{print $NF}') / 1024 ))
      windows=$(grep -c 'colour drift against' "$out/log" || true)
      windows=$((windows + 1))
    fi
  done
  printf '%-7s %-8s %-9s %-9s %s | %s\n' "$frames" "$windows" "$seconds" "$peak" "${drift[0]}" "${drift[1]}"
done
