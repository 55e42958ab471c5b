#!/usr/bin/env bash
# Every GPU check of soragen in one run, for the few minutes a GPU machine is
# lent: CUDA parity of every component, the denoising loop's synchronisation
# count, the card's bf16 GEMM rate, a full-size Wan2.1-T2V-1.3B render
# (832x480, 81 frames, random weights) timed per stage, and the official
# Wan2.1 DiT on the same weights and settings, side by side.
#
#   scripts/gpu_check.sh prepare            # here, on the build machine
#   scripts/gpu_check.sh run [GPUS]         # there, from the repository root
#
# prepare: builds the libtorch-2.11 tree (SORAGEN_TORCH=pytorch, build-cuda/)
# and copies what the GPU machine lacks into .gpu/ (git-ignored, to be
# carried): the CUDA-capable test binaries and benchmarks (they link
# libtorch dynamically and find the GPU machine's own PyTorch 2.11 there),
# and the official Wan2.1 model.py/attention.py, read from a fetched mirror
# of github.com/Wan-Video/Wan2.1 (OFFICIAL_WAN_GIT, a git directory), never
# committed. It ends by printing the device call to make:
#   run: command "bash scripts/gpu_check.sh run 2>&1 | tee $OUT/gpu_check.log", carry [".gpu"]
#
# run: needs python3 with torch 2.11 (CUDA) and nvidia-smi; nothing else is
# installed. GPUS (default 1) is the number of GPUs to use; the checks here
# use one, and the multi-GPU runs of the distributed issue take the count
# from it. Budget: about 5 minutes on one H100/H200. The official model's
# attention is patched in memory to torch's scaled_dot_product_attention
# (flash-attn is not installed there) and its diffusers base classes are
# stubbed (scripts/gpu_check/official_dit_step.py says how); the scheduler
# update is left out of its step. Prints a summary table last; full logs go
# to $OUT when set.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode=${1:-}
say() { printf 'gpu_check: %s\n' "$*"; }

# The binaries the run needs, all from build-cuda/.
binaries=(
  test_text_encoder_parity test_dit_parity test_sampling_parity test_vae_parity test_pipeline_parity
  test_denoise_loop bench_t2v bench_dit
)

prepare() {
  local official_git=${OFFICIAL_WAN_GIT:-/work/.mirror/Wan-Video+Wan2.1/repo}
  SORAGEN_TORCH=pytorch scripts/setup.sh
  rm -rf .gpu
  mkdir -p .gpu/bin .gpu/official
  for binary in "${binaries[@]}"; do
    [ -x "build-cuda/$binary" ] || { say "build-cuda/$binary is missing"; exit 1; }
    cp "build-cuda/$binary" .gpu/bin/
    strip --strip-unneeded ".gpu/bin/$binary"
  done
  if ! git --git-dir="$official_git" rev-parse HEAD >/dev/null 2>&1; then
    say "no Wan2.1 mirror at $official_git (set OFFICIAL_WAN_GIT to a git directory of github.com/Wan-Video/Wan2.1)"
    exit 1
  fi
  for file in model.py attention.py; do
    git --git-dir="$official_git" show "HEAD:wan/modules/$file" >".gpu/official/$file"
  done
  git --git-dir="$official_git" rev-parse HEAD >.gpu/official/COMMIT
  # What the binaries need beyond libtorch must be on the GPU machine too.
  local missing
  missing=$(for binary in "${binaries[@]}"; do ldd ".gpu/bin/$binary"; done |
    awk '{print $1}' | grep -vE '^(linux-vdso|/lib64/ld-linux)' |
    grep -vE '^lib(torch|c10|cuda|cudart|nvrtc|nvToolsExt|gomp|stdc\+\+|m|gcc_s|c|pthread|dl|rt)\b' | sort -u || true)
  [ -z "$missing" ] || say "note: the binaries also load: $(echo "$missing" | tr '\n' ' ')"
  say "prepared .gpu/ ($(du -sh .gpu | cut -f1)); the whole tree that travels must stay under 64 MiB"
  echo 'device run: command "bash scripts/gpu_check.sh run 2>&1 | tee $OUT/gpu_check.log", carry [".gpu"]'
}

run_checks() {
  local gpus=${1:-1}
  local out=${OUT:-/tmp/gpu_check}
  mkdir -p "$out"
  [ -d .gpu/bin ] || { say "no .gpu/bin: run 'scripts/gpu_check.sh prepare' on the build machine and carry .gpu"; exit 1; }
  local torch_lib
  torch_lib=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
  export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export SORAGEN_GOLDEN_DIR=$PWD/tests/data/golden
  local bin=$PWD/.gpu/bin
  local summary=$out/summary.txt
  : >"$summary"
  note() { printf '%s\n' "$*" | tee -a "$summary"; }

  say "GPUs: $gpus requested"
  nvidia-smi -L | tee -a "$out/nvidia-smi.txt"
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))'

  # 1. CUDA parity, fp32 with TF32 off, and the loop's synchronisations.
  local failed=0
  for test in test_text_encoder_parity test_dit_parity test_sampling_parity test_vae_parity test_pipeline_parity \
              test_denoise_loop; do
    if "$bin/$test" --gtest_brief=1 >"$out/$test.log" 2>&1; then
      note "parity  $test: passed ($(grep -c '^\[       OK \]' "$out/$test.log" || true) tests)"
    else
      failed=1
      note "parity  $test: FAILED (see $test.log)"
      tail -n 30 "$out/$test.log"
    fi
  done
  grep -hE 'OnCuda|on_cuda|Cuda\b' "$out"/test_*.log | head -n 40 || true

  # 2. The card's bf16 GEMM rate (8192^3, median of 20, CUDA events).
  local gemm
  gemm=$(python3 - <<'PY'
import torch
n = 8192
a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
for _ in range(5):
    a @ b
times = []
for _ in range(20):
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record(); a @ b; e.record(); torch.cuda.synchronize()
    times.append(s.elapsed_time(e) / 1e3)
times.sort()
print(2 * n ** 3 / times[len(times) // 2] / 1e12)
PY
)
  note "gemm    bf16 8192^3: $(printf '%.0f' "$gemm") TFLOP/s"

  # 3. The official Wan2.1 DiT: two B=1 calls per step as WanT2V.generate,
  #    bf16 weights; its weights are saved for soragen to load.
  local weights=/tmp/gpu_check_dit.safetensors
  python3 scripts/gpu_check/official_dit_step.py --official .gpu/official \
    --config models/configs/wan2.1-t2v-1.3b.json --device cuda --dtype bf16 \
    --save-weights "$weights" 2>&1 | tee "$out/official_bf16.log"
  # The released weights are fp32 under bf16 autocast: the reference's own setting.
  python3 scripts/gpu_check/official_dit_step.py --official .gpu/official \
    --config models/configs/wan2.1-t2v-1.3b.json --device cuda --dtype amp-bf16 2>&1 | tee "$out/official_amp.log"

  # 4. soragen on the same DiT weights: 81 frames 832x480, 10 UniPC steps, bf16.
  "$bin/bench_t2v" --device cuda --dit-weights "$weights" --steps 10 2>&1 | tee "$out/bench_t2v.log"
  rm -f "$weights"

  # 5. The summary.
  python3 - "$out" "$gemm" <<'PY' | tee -a "$summary"
import json, sys, pathlib
out, gemm = pathlib.Path(sys.argv[1]), float(sys.argv[2])
def result(name):
    for line in reversed((out / name).read_text().splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise SystemExit(f"no RESULT line in {name}")
ours, official, amp = result("bench_t2v.log"), result("official_bf16.log"), result("official_amp.log")
step = ours["step_seconds"]
tflops = ours["step_flops"] / step / 1e12
gib = lambda b: "n/a" if b is None or b < 0 else f"{b / 2**30:.1f} GiB"
print(f"soragen  per step {step:.3f} s (CFG batch 2, bf16, {ours['tokens']} tokens): {tflops:.0f} TFLOP/s, "
      f"{100 * tflops / gemm:.0f}% of the measured bf16 GEMM rate")
print(f"soragen  text encoding {ours['encode_seconds']:.2f} s, VAE decode {ours['decode_seconds']:.2f} s "
      f"({ours['frames']} frames), end to end {ours['end_to_end_seconds']:.1f} s for {ours['steps']} steps")
print(f"soragen  peak GPU memory: " + ", ".join(f"{k} {gib(v)}" for k, v in ours["peak_bytes"].items()))
for name, r in (("bf16 weights", official), ("fp32 weights + bf16 autocast", amp)):
    print(f"official per step {r['step_seconds_median']:.3f} s ({name}, two calls, sdpa-patched), "
          f"peak {gib(r.get('peak_bytes'))}: official/soragen = {r['step_seconds_median'] / step:.2f}x")
print("targets: >= 1.5x the official per step, >= 60% of the GEMM rate, VAE decode of 81 frames < 10 s")
PY
  say "logs in $out"
  return $failed
}

case $mode in
  prepare) prepare ;;
  run) shift; run_checks "$@" ;;
  *)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
    [ "$mode" = -h ] || [ "$mode" = --help ] || exit 2
    ;;
esac
