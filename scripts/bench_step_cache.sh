#!/usr/bin/env bash
# What step caching (--cache) saves and costs: for each setting, the DiT
# passes it reused, the render time, and PSNR/SSIM of the frames against the
# same render without caching (FFmpeg's psnr and ssim filters, averaged over
# the frames, then over the renders). Two models: the embedded default, and a
# seeded random model of the same tiny architecture (soragen-make-model),
# whose frames are structure without meaning. teacache and magcache need
# tables fitted to the model: the default ships its own; the random model's
# are fitted first (soragen-eval --calibrate-cache over 8 renders).
#
#   scripts/bench_step_cache.sh                        # the CACHES below
#   CACHES="fbcache:0.1 magcache" SEEDS="1 2 3" scripts/bench_step_cache.sh
#
# The detector's accuracy with a setting is soragen-eval's: `build/soragen-eval
# --cache fbcache:0.1` beside `build/soragen-eval`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build=${BUILD_DIR:-build}
caches=${CACHES:-"fbcache:0.1 fbcache:0.2 teacache teacache:0.3 magcache magcache:0.2,k=3"}
seeds=${SEEDS:-"1 2 3 4"}
prompt=${PROMPT:-"a small red circle moving to the right on a blue background"}
scratch=$(mktemp -d /tmp/soragen-bench-cache.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

for tool in soragen soragen-make-model soragen-eval; do
  [ -x "$build/$tool" ] || { echo "bench_step_cache: $build/$tool is missing: build it first" >&2; exit 1; }
done
command -v python3 > /dev/null || { echo "bench_step_cache: python3 is needed to edit model.json" >&2; exit 1; }
"$build/soragen-make-model" --tokenizer models/default/spiece.model --out "$scratch/random" > /dev/null
"$build/soragen-eval" --model "$scratch/random" --split train --samples 1 \
  --calibrate-cache "$scratch/random-tables.json" > /dev/null
python3 - "$scratch/random/model.json" "$scratch/random-tables.json" <<'PY'
import json, sys
model = json.load(open(sys.argv[1]))
model["step_cache"] = json.load(open(sys.argv[2]))
json.dump(model, open(sys.argv[1], "w"), indent=2)
PY

calc() { awk "BEGIN { print $* }"; }

# render MODEL CACHE SEED DIR: PNG frames in DIR; prints "reused seconds".
render() {
  local log start end reused
  start=$(date +%s.%N)
  log=$("$build/soragen" --model "$1" --prompt "$prompt" --seed "$3" --cache "$2" -o "$4/" 2>&1) ||
    { echo "$log" >&2; exit 1; }
  end=$(date +%s.%N)
  reused=$(echo "$log" | sed -n 's/.*: \([0-9]*\) of \([0-9]*\) DiT passes reused.*/\1\/\2/p')
  echo "${reused:-0/0} $(calc "$end - $start")"
}

# compare A B: "psnr ssim" of the frames in B against A.
compare() {
  ffmpeg -hide_banner -nostats -i "file:$1/frame_%05d.png" -i "file:$2/frame_%05d.png" \
    -lavfi "[0:v]split[a0][a1];[1:v]split[b0][b1];[a0][b0]psnr;[a1][b1]ssim" -f null - 2>&1 |
    awk '/PSNR/ { for (i = 1; i <= NF; i++) if ($i ~ /^average:/) { sub("average:", "", $i); p = $i } }
         /SSIM/ { for (i = 1; i <= NF; i++) if ($i ~ /^All:/) { sub("All:", "", $i); s = $i } }
         END { print p, s }'
}

printf '%-8s %-14s %10s %8s %10s %8s\n' model cache reused seconds "PSNR dB" SSIM
for model in default random; do
  model_path=$model
  [ "$model" = random ] && model_path="$scratch/random"
  total_base=0
  for seed in $seeds; do
    read -r _ secs < <(render "$model_path" none "$seed" "$scratch/$model-none-$seed")
    total_base=$(calc "$total_base + $secs")
  done
  printf '%-8s %-14s %10s %8.2f %10s %8s\n' "$model" none - "$total_base" - -
  index=0
  for cache in $caches; do
    index=$((index + 1))
    total=0 psnr_sum=0 ssim_sum=0 count=0 reused_sum=0 passes_sum=0
    for seed in $seeds; do
      dir="$scratch/$model-$index-$seed"
      read -r reused secs < <(render "$model_path" "$cache" "$seed" "$dir")
      read -r psnr ssim < <(compare "$scratch/$model-none-$seed" "$dir")
      [ "$psnr" = inf ] && psnr=99  # identical frames
      total=$(calc "$total + $secs")
      psnr_sum=$(calc "$psnr_sum + $psnr")
      ssim_sum=$(calc "$ssim_sum + $ssim")
      reused_sum=$((reused_sum + ${reused%/*}))
      passes_sum=$((passes_sum + ${reused#*/}))
      count=$((count + 1))
    done
    printf '%-8s %-14s %10s %8.2f %10.2f %8.4f\n' "$model" "$cache" "$reused_sum/$passes_sum" "$total" \
      "$(calc "$psnr_sum / $count")" "$(calc "$ssim_sum / $count")"
  done
done
