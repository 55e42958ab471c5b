#!/usr/bin/env bash
# CPU measurements of the Wan2.2 components with their full-size
# architectures and seeded random weights (no download): seconds per
# denoising step of TI2V-5B and of one A14B expert, and the Wan2.2 VAE's
# decode time and peak memory. Each command line is printed before it runs.
#
#   scripts/bench_wan22.sh                    # fixed shapes below, bf16, all cores
#   REPEAT=3 LAYERS=10 scripts/bench_wan22.sh
#
# Shapes are small so that a 2-core, 24 GB machine finishes in minutes:
#   TI2V-5B    5 frames 160x160 -> Wan2.2 latent [48, 2, 10, 10], 50 tokens,
#              per-token timesteps [2, 50]; all 30 blocks (about 10 GiB bf16).
#   A14B       one expert (T2V; the I2V expert differs only in in_dim 36),
#              5 frames 128x128 -> latent [16, 2, 16, 16], 128 tokens. All 40
#              blocks in bf16 are 28.6 GB, more than such a machine holds, so
#              LAYERS blocks are built and the step is extrapolated by the
#              FLOP ratio (bench_dit prints it as EXTRAPOLATED).
#   VAE        the Wan2.2 VAE decoding 3 latent frames at 256x256 (16x16
#              latent, 9 frames), then --memory-check: peak RSS of 3 vs 9
#              latent frames, each in its own process.
# bf16 is fast only with avx512_bf16 (or AMX); elsewhere libtorch 1.13 falls
# back to ~1 GFLOP/s: set DTYPE=fp32 for the VAE and COMPUTE=fp32 for the DiT.
#
# Settings (environment): BUILD_DIR [build], THREADS [0 = all cores],
# REPEAT [2], LAYERS [8], DTYPE [bf16] (DiT weights), COMPUTE [= DTYPE],
# VAE_DTYPE [fp32].
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-build}
THREADS=${THREADS:-0}
REPEAT=${REPEAT:-2}
LAYERS=${LAYERS:-8}
DTYPE=${DTYPE:-bf16}
COMPUTE=${COMPUTE:-$DTYPE}
VAE_DTYPE=${VAE_DTYPE:-fp32}
configs=$repo/models/configs

for tool in bench_dit bench_vae; do
  if [ ! -x "$BUILD_DIR/$tool" ]; then
    echo "bench_wan22.sh: $BUILD_DIR/$tool not found; build it (ninja -C $BUILD_DIR bench_dit bench_vae)" >&2
    exit 2
  fi
done

run() {
  echo
  echo "\$ $*"
  "$@"
}

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) cores," \
  "avx512_bf16: $(grep -q avx512_bf16 /proc/cpuinfo && echo yes || echo no); load:$(uptime | sed 's/.*load average//')"

dit=("$BUILD_DIR/bench_dit" --dtype "$DTYPE" --compute-dtype "$COMPUTE" --threads "$THREADS"
     --warmup 1 --repeat "$REPEAT")
run "${dit[@]}" --config "$configs/wan2.2-ti2v-5b.json" --frames 5 --height 160 --width 160
run "${dit[@]}" --config "$configs/wan2.2-t2v-a14b.json" --frames 5 --height 128 --width 128 --layers "$LAYERS"

vae=("$BUILD_DIR/bench_vae" --config "$configs/wan2.2-vae.json" --dtype "$VAE_DTYPE"
     --threads "$THREADS")
run "${vae[@]}" --latent-frames 3 --height 256 --width 256
run "${vae[@]}" --memory-check --memory-size 128
