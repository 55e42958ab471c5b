#!/usr/bin/env bash
# Renders a few prompts with the embedded default and tiles their frames into
# one PNG, a row per prompt (every other frame, enlarged 2x): the picture in
# README.md.
#
#   scripts/contact_sheet.sh [OUT.png]      (default: models/default/contact_sheet.png)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${1:-models/default/contact_sheet.png}
build=${SORAGEN_BUILD_DIR:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

prompts=(
  "a small red circle moving to the right on a blue background"
  "a large yellow square moving down on a purple background"
  "a large green triangle moving to the left on a white background"
  "a small white circle moving up on a black background"
  "orange box slides left, green gradient backdrop"
)
inputs=()
for i in "${!prompts[@]}"; do
  "$build/soragen" -q --prompt "${prompts[$i]}" --seed $((i + 1)) -o "$tmp/$i.mp4"
  # Frames 0, 2, ..., 16 side by side.
  ffmpeg -loglevel error -i "$tmp/$i.mp4" \
    -vf "select='not(mod(n\,2))',scale=iw*2:ih*2:flags=neighbor,tile=9x1:padding=4:color=gray" \
    -frames:v 1 "$tmp/row$i.png"
  inputs+=(-i "$tmp/row$i.png")
done
ffmpeg -loglevel error -y "${inputs[@]}" -filter_complex "vstack=inputs=${#prompts[@]}" "$out"
printf 'contact sheet: %s (rows, top to bottom):\n' "$out"
printf '  %s\n' "${prompts[@]}"
