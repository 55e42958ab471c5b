#!/usr/bin/env bash
# soragen against stable-diffusion.cpp (leejet), side by side on this CPU:
# the Wan2.1 T2V 1.3B DiT step with CFG, the Wan2.1 VAE decode and the umT5-XXL
# encoder, with random full-size weights, in alternating runs (soragen, then
# sd.cpp, REPEATS times). Prints each run's seconds, then the medians and the
# ratio sd.cpp / soragen per part (above 1: soragen is faster).
#
#   scripts/bench_sdcpp.sh
#   REPEATS=5 FRAMES=17 scripts/bench_sdcpp.sh
#   SDCPP_MIRROR=/path/to/stable-diffusion.cpp.git GGML_MIRROR=/path/to/ggml.git scripts/bench_sdcpp.sh
#
# Settings (environment):
#   SDCPP_MIRROR   git directory of a stable-diffusion.cpp snapshot
#                  (default /work/.mirror/leejet+stable-diffusion.cpp/repo)
#   SDCPP_COMMIT   the commit to build (default: the mirror's HEAD)
#   GGML_MIRROR    git directory of ggml holding the commit sd.cpp pins as its
#                  submodule (default /work/.mirror/ggml-org+ggml/repo); when it
#                  lacks that commit, its last commit before sd.cpp's is used, and said
#   SDCPP_CMAKE_ARGS  extra CMake flags for sd.cpp (default none: the snapshot's
#                  defaults plus -DGGML_NATIVE=ON, e.g. "-DGGML_LLAMAFILE=ON" to try
#                  ggml's tinyBLAS kernels, which sd.cpp's own builds leave off)
#   SDCPP_WORK     scratch folder outside the repository (default /tmp/sdcpp): the
#                  checkout, its build, the weights, each run's logs
#   BUILD_DIR      soragen's build (default build): bench_dit, bench_vae, bench_text_encoder
#   REPEATS        alternating rounds (default 3); THREADS (default 2)
#   FRAMES HEIGHT WIDTH  the video of the DiT step and the decode (default 9 256 256)
#   STEPS          sampling steps per sd.cpp run (default 2); the first, which
#                  loads the DiT's weights, is not counted, and soragen's
#                  bench_dit runs 1 warm-up step and STEPS-1 timed ones to match
#
# What is compared: sd.cpp runs its CLI once per round (sd-cli -M vid_gen,
# f16 weights, --diffusion-fa, cfg 6, euler) and its -v log gives every figure:
# the seconds per sampling step (steps 2..STEPS), the umT5 seconds of the
# second prompt (the first loads the weights; sd.cpp pads every prompt to 512
# tokens) and decode_first_stage. soragen: bench_dit (one forward with the CFG
# batch of 2; prompts of 48 and 12 tokens, which the Wan reference zero-pads
# to 512 rows and soragen attends as 49 rows holding the same keys and values,
# dit::cross_attention_rows) with bf16 weights (multiplied in fp32 on a CPU
# without avx512_bf16, as soragen runs them), fp32 weights, and int8 weights
# (soragen-convert --to int8, --fp8-weights keep: the CPU's int8 GEMM with
# activations quantized per token on the fly), bench_vae in
# fp32 on the same latent, bench_text_encoder in bf16 on 512 tokens (1
# warm-up, 1 timed).
#
# Nothing of sd.cpp enters the repository: its snapshot is checked out from
# the mirror and built with its own CMake under SDCPP_WORK (vocabulary headers
# the mirror lacks are replaced by stand-ins, scripts/sdcpp_bench_inputs.py
# vocab), and the weights are written there by scripts/sdcpp_bench_inputs.py
# weights (official Wan2.1 names, HF T5 names for umT5, all f16).
#
# Costs on a 2-core Zen 4: the first run builds sd-cli (~13 min, ccache
# helps later builds) and writes 14.5 GB of weights to SDCPP_WORK (~40 s).
# Each round at the default shape takes ~12 min: ~4.5 min of soragen (2 of
# them bench_text_encoder filling 5.7 B random weights) and ~7.5 min of sd.cpp
# (loading 14 GB, umT5 twice, two ~75 s steps, a ~2 min decode); REPEATS=3 is
# ~37 min. Peak memory ~14 GB (sd-cli holds umT5 and the DiT at once); one
# program runs at a time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build=$(realpath -m "${BUILD_DIR:-build}")
mirror=${SDCPP_MIRROR:-/work/.mirror/leejet+stable-diffusion.cpp/repo}
ggml_mirror=${GGML_MIRROR:-/work/.mirror/ggml-org+ggml/repo}
work=${SDCPP_WORK:-/tmp/sdcpp}
repeats=${REPEATS:-3}
threads=${THREADS:-2}
frames=${FRAMES:-9}
height=${HEIGHT:-256}
width=${WIDTH:-256}
steps=${STEPS:-2}
helper=$PWD/scripts/sdcpp_bench_inputs.py

die() { echo "bench_sdcpp: $*" >&2; exit 1; }
for tool in bench_dit bench_vae bench_text_encoder; do
  [ -x "$build/$tool" ] || die "$build/$tool is missing: build soragen first (scripts/setup.sh)"
done
for cmd in git cmake c++ python3 awk; do
  command -v "$cmd" > /dev/null || die "$cmd is missing"
done
git --git-dir="$mirror" rev-parse --verify -q 'HEAD^{commit}' > /dev/null 2>&1 ||
  die "no stable-diffusion.cpp snapshot at $mirror (set SDCPP_MIRROR to its git directory)"
git --git-dir="$ggml_mirror" rev-parse --verify -q 'HEAD^{commit}' > /dev/null 2>&1 ||
  die "no ggml snapshot at $ggml_mirror (set GGML_MIRROR to its git directory)"
[ "$steps" -ge 2 ] || die "STEPS must be at least 2 (the first step is not counted)"
(( (frames - 1) % 4 == 0 && height % 16 == 0 && width % 16 == 0 )) ||
  die "FRAMES must be 4k+1, HEIGHT and WIDTH multiples of 16"

commit=$(git --git-dir="$mirror" rev-parse --verify "${SDCPP_COMMIT:-HEAD}^{commit}")
ggml_commit=$(git --git-dir="$mirror" ls-tree "$commit" ggml | awk '$2 == "commit" { print $3 }')
[ -n "$ggml_commit" ] || die "sd.cpp $commit pins no ggml submodule"
ggml_note="the pinned commit"
if ! git --git-dir="$ggml_mirror" cat-file -e "$ggml_commit^{commit}" 2> /dev/null; then
  date=$(git --git-dir="$mirror" show -s --format=%cI "$commit")
  pinned=$ggml_commit
  ggml_commit=$(git --git-dir="$ggml_mirror" rev-list -1 --before="$date" HEAD)
  [ -n "$ggml_commit" ] || die "$ggml_mirror has neither ggml $pinned nor a commit before $date"
  ggml_note="NOT the pinned $pinned (absent from $ggml_mirror): its last commit before $date"
fi

mkdir -p "$work"
src=$work/src
sdbuild=$work/build
weights=$work/weights
sd=$sdbuild/bin/sd-cli
stamp="sd.cpp $commit ggml $ggml_commit"
read -r -a cmake_args <<< "-DCMAKE_BUILD_TYPE=Release -DSD_WEBP=OFF -DSD_WEBM=OFF -DGGML_NATIVE=ON ${SDCPP_CMAKE_ARGS:-}"

# checkout MIRROR COMMIT DIR: the commit's files that the mirror holds (a
# snapshot may lack its largest blobs; submodules come separately).
checkout() {
  local list=$work/.paths index=$work/.index
  git --git-dir="$1" -c core.quotePath=false ls-tree -r --format='%(objectname) %(path)' "$2" |
    git --git-dir="$1" cat-file --batch-check='%(objecttype) %(rest)' | sed -n 's/^blob //p' > "$list"
  mkdir -p "$3"
  rm -f "$index"
  GIT_LITERAL_PATHSPECS=1 GIT_INDEX_FILE=$index git --git-dir="$1" --work-tree="$3" \
    checkout -q "$2" --pathspec-from-file="$list"
  rm -f "$index" "$list"
}

if [ "$(cat "$src/.soragen-stamp" 2> /dev/null)" != "$stamp" ]; then
  echo "checking out sd.cpp ${commit:0:12} and ggml ${ggml_commit:0:12} into $src"
  rm -rf "$src" "$sdbuild"
  checkout "$mirror" "$commit" "$src"
  checkout "$ggml_mirror" "$ggml_commit" "$src/ggml"
  python3 "$helper" vocab "$src/src/tokenizers/vocab"
  echo "$stamp" > "$src/.soragen-stamp"
fi
if [ ! -x "$sd" ] || [ "$(cat "$sdbuild/.soragen-stamp" 2> /dev/null)" != "${cmake_args[*]}" ]; then
  echo "building sd-cli in $sdbuild (log $work/build.log)"
  rm -rf "$sdbuild"  # a flag dropped from the command line would stay in its CMakeCache
  { cmake -S "$src" -B "$sdbuild" "${cmake_args[@]}" &&
    cmake --build "$sdbuild" --target sd-cli -j "$(nproc)"; } > "$work/build.log" 2>&1 ||
    die "the sd.cpp build failed: see $work/build.log"
  echo "${cmake_args[*]}" > "$sdbuild/.soragen-stamp"
fi

if [ ! -e "$weights/umt5_xxl_f16.safetensors" ]; then
  avail=$(df -Pk "$work" | awk 'NR == 2 { print int($4 / 1048576) }')
  [ "$avail" -ge 16 ] || die "writing the weights needs 15 GB in $work, $avail GB free"
fi
python3 "$helper" weights "$weights"

logs=$work/logs/$(date +%Y%m%d-%H%M%S)
mkdir -p "$logs"
latent_frames=$(( (frames - 1) / 4 + 1 ))
prompt="a cat surfing a wave at sunset, cinematic"
negative="blurry, static, low quality"
dit_args=(--threads "$threads" --frames "$frames" --height "$height" --width "$width" --warmup 1 --repeat $((steps - 1)))
vae_args=(--latent-frames "$latent_frames" --height "$height" --width "$width" --dtype fp32 --threads "$threads")
te_args=(--dtype bf16 --threads "$threads" --tokens 512 --repeat 1)
sd_args=(-M vid_gen --diffusion-model "$weights/wan2.1_t2v_1.3B_f16.safetensors"
         --vae "$weights/wan_2.1_vae_f16.safetensors" --t5xxl "$weights/umt5_xxl_f16.safetensors"
         -p "$prompt" -n "$negative" --cfg-scale 6.0 --sampling-method euler --flow-shift 3.0
         --steps "$steps" -W "$width" -H "$height" --video-frames "$frames" --diffusion-fa
         -t "$threads" --seed 42 -v)

flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores," \
  "avx512_bf16 $([[ " $flags " == *" avx512_bf16 "* ]] && echo yes || echo no)," \
  "avx512f $([[ " $flags " == *" avx512f "* ]] && echo yes || echo no); $threads threads each side"
echo "sd.cpp: $commit ($(git --git-dir="$mirror" show -s --format=%cs "$commit")), ggml $ggml_commit ($ggml_note)"
echo "shapes: DiT Wan2.1 T2V 1.3B, $frames frames ${width}x${height} -> latent [16, $latent_frames, $((height / 8)), $((width / 8))]," \
  "CFG (cond + uncond), text 512 rows (soragen: 49, the same keys); VAE decode of that latent; umT5-XXL on 512 tokens"
echo "sd.cpp build: cmake ${cmake_args[*]}"
echo "soragen: $build/bench_dit --dtype bf16|fp32 | --int8 ${dit_args[*]}"
echo "         $build/bench_vae ${vae_args[*]}"
echo "         $build/bench_text_encoder ${te_args[*]}"
echo "sd.cpp:  $sd $(printf '%q ' "${sd_args[@]}")-o $logs/sdcpp-ROUND.avi"
echo "logs:    $logs"

# field LOG SED-EXPRESSION WHAT: the one number the expression prints, or a one-line error.
field() {
  local value
  value=$(sed -n "$2" "$1" | tail -n 1)
  [ -n "$value" ] || die "no $3 in $1"
  echo "$value"
}

# median: of the numbers on stdin (blank-separated); nothing for none.
median() {
  tr ' ' '\n' | awk 'NF' | sort -g |
    awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

run_soragen() {  # ROUND: prints "dit_bf16 dit_fp32 dit_int8 vae te"
  local r=$1 log
  for dtype in bf16 fp32 int8; do
    log=$logs/soragen-dit-$dtype-$r.log
    if [ "$dtype" = int8 ]; then
      "$build/bench_dit" --int8 "${dit_args[@]}" > "$log" 2>&1 || die "bench_dit failed: see $log"
    else
      "$build/bench_dit" --dtype "$dtype" "${dit_args[@]}" > "$log" 2>&1 || die "bench_dit failed: see $log"
    fi
    field "$log" 's/^seconds per step: \([0-9.]*\) .*/\1/p' "step time"
  done
  log=$logs/soragen-vae-$r.log
  "$build/bench_vae" "${vae_args[@]}" > "$log" 2>&1 || die "bench_vae failed: see $log"
  field "$log" 's/^total \([0-9.]*\) s,.*/\1/p' "decode time"
  log=$logs/soragen-te-$r.log
  "$build/bench_text_encoder" "${te_args[@]}" > "$log" 2>&1 || die "bench_text_encoder failed: see $log"
  field "$log" 's/^encode: best [0-9.]* s, mean \([0-9.]*\) s.*/\1/p' "encode time"
}

run_sdcpp() {  # ROUND: prints "step decode te"
  local r=$1
  local log=$logs/sdcpp-$r.log
  "$sd" "${sd_args[@]}" -o "$logs/sdcpp-$r.avi" > "$log.raw" 2>&1 || die "sd-cli failed: see $log.raw"
  tr '\r' '\n' < "$log.raw" > "$log" && rm "$log.raw"
  # Sampling steps 2..STEPS: the progress lines before "sampling completed".
  local per_step
  per_step=$(sed -n '/get_learned_condition completed/,/sampling completed/p' "$log" |
    sed -n "s#.* \([0-9]*\)/$steps - \([0-9.]*\)\(s/it\|it/s\).*#\1 \2 \3#p" |
    awk '$1 >= 2 && !seen[$1]++ { print ($3 == "it/s") ? 1 / $2 : $2 }' | median)
  [ -n "$per_step" ] || die "no sampling step times in $log"
  echo "$per_step"
  field "$log" 's/.*decode_first_stage completed, taking \([0-9.]*\)s.*/\1/p' "decode time"
  local te
  te=$(sed -n 's/.*computing condition graph completed, taking \([0-9]*\) ms.*/\1/p' "$log" | sed -n 2p)
  [ -n "$te" ] || die "no second umT5 prompt time in $log"
  awk "BEGIN { print $te / 1000 }"
}

declare -a s_bf16 s_fp32 s_int8 s_vae s_te d_step d_vae d_te
for r in $(seq 1 "$repeats"); do
  mapfile -t s < <(run_soragen "$r")
  [ "${#s[@]}" = 5 ] || die "round $r: soragen's figures are incomplete (logs in $logs)"
  echo "round $r soragen: step bf16 ${s[0]} s, step fp32 ${s[1]} s, step int8 ${s[2]} s, decode ${s[3]} s," \
    "umT5 ${s[4]} s"
  mapfile -t d < <(run_sdcpp "$r")
  [ "${#d[@]}" = 3 ] || die "round $r: sd.cpp's figures are incomplete (logs in $logs)"
  echo "round $r sd.cpp:  step ${d[0]} s, decode ${d[1]} s, umT5 ${d[2]} s"
  s_bf16+=("${s[0]}") s_fp32+=("${s[1]}") s_int8+=("${s[2]}") s_vae+=("${s[3]}") s_te+=("${s[4]}")
  d_step+=("${d[0]}") d_vae+=("${d[1]}") d_te+=("${d[2]}")
done

row() {  # LABEL SORAGEN-VALUES SDCPP-VALUES
  local a b
  a=$(echo "$2" | median)
  b=$(echo "$3" | median)
  printf '%-40s %10.2f %10.2f %15.2fx\n' "$1" "$a" "$b" "$(awk "BEGIN { print $b / $a }")"
}
echo
echo "medians of $repeats alternating rounds, $threads threads; sd.cpp: f16 weights, flash attention"
printf '%-40s %10s %10s %16s\n' part "soragen s" "sd.cpp s" "sd.cpp/soragen"
row "DiT step with CFG, soragen bf16 weights" "${s_bf16[*]}" "${d_step[*]}"
row "DiT step with CFG, soragen fp32" "${s_fp32[*]}" "${d_step[*]}"
row "DiT step with CFG, soragen int8 weights" "${s_int8[*]}" "${d_step[*]}"
row "VAE decode, soragen fp32" "${s_vae[*]}" "${d_vae[*]}"
row "umT5 per prompt, soragen bf16" "${s_te[*]}" "${d_te[*]}"
