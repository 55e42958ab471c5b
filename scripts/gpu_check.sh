#!/usr/bin/env bash
# Every GPU check of soragen in one run, for the few minutes a GPU machine is
# lent: CUDA parity of every component, the denoising loop's synchronisation
# count, the card's bf16 GEMM rate, a full-size Wan2.1-T2V-1.3B render
# (832x480, 81 frames, random weights) timed per stage, and the official
# Wan2.1 DiT on the same weights and settings, side by side; then one CFG
# step of the Wan2.2 TI2V-5B DiT at 1280x704x121 and of one T2V-A14B expert
# at 832x480x81, the official Wan2.2 model.py beside soragen's bench_dit
# (random weights each: a step's time does not depend on their values); and
# a Wan2.1 1.3B step with fp8 block weights (_scaled_mm) against bf16.
#
#   scripts/gpu_check.sh prepare            # here, on the build machine
#   scripts/gpu_check.sh run [GPUS]         # there, from the repository root
#   scripts/gpu_check.sh dry-run            # here: the run's plumbing on the CPU
#
# dry-run does what run does on the CPU, at a tiny size and in fp32, with
# build-cuda/'s binaries and a python3 that has torch 2.x (PYTHON, e.g. with
# PYTHONPATH set to a private site): it checks the script, not the figures.
#
# prepare: builds the libtorch-2.11 tree (SORAGEN_TORCH=pytorch, build-cuda/)
# and copies what the GPU machine lacks into .gpu/ (git-ignored, to be
# carried): the CUDA-capable test binaries and benchmarks (they link
# libtorch dynamically and find the GPU machine's own PyTorch 2.11 there),
# and the official Wan2.1 model.py/attention.py, read from a fetched mirror
# of github.com/Wan-Video/Wan2.1 (OFFICIAL_WAN_GIT, a git directory), never
# committed; the same for Wan2.2 (OFFICIAL_WAN22_GIT, a git directory of
# github.com/Wan-Video/Wan2.2) into .gpu/official22/. It ends by printing
# the device call to make:
#   run: command "bash scripts/gpu_check.sh run 2>&1 | tee $OUT/gpu_check.log", carry [".gpu"]
#
# run: needs python3 with torch 2.11 (CUDA) and nvidia-smi; nothing else is
# installed. GPUS (default 1) is the number of GPUs to use; the checks here
# use one, and with GPUS > 1 step 6 times one Wan2.1 1.3B CFG step on 1 GPU
# and with Ulysses over GPUS (bench_dit under torchrun). Budget: about 8 minutes on one H100/H200 (5 for Wan2.1, 3 for the Wan2.2 steps). The official model's
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
  test_text_encoder_parity test_dit_parity test_sampling_parity test_vae_parity test_vae22_parity
  test_pipeline_parity test_wan22_pipeline_parity
  test_denoise_loop test_distributed bench_t2v bench_dit
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
  local official22_git=${OFFICIAL_WAN22_GIT:-/work/.mirror/Wan-Video+Wan2.2/repo}
  if ! git --git-dir="$official22_git" rev-parse HEAD >/dev/null 2>&1; then
    say "no Wan2.2 mirror at $official22_git (set OFFICIAL_WAN22_GIT to a git directory of github.com/Wan-Video/Wan2.2)"
    exit 1
  fi
  mkdir -p .gpu/official22
  for file in model.py attention.py; do
    git --git-dir="$official22_git" show "HEAD:wan/modules/$file" >".gpu/official22/$file"
  done
  git --git-dir="$official22_git" rev-parse HEAD >.gpu/official22/COMMIT
  # What the binaries need beyond libtorch must be on the GPU machine too.
  local missing
  missing=$(for binary in "${binaries[@]}"; do readelf -d ".gpu/bin/$binary"; done |
    sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' |
    grep -vE '^lib(torch|torch_cpu|torch_cuda|c10|c10_cuda|cudart|nvrtc|nvToolsExt|gomp|stdc\+\+|m|gcc_s|c|pthread|dl|rt)\.so' |
    sort -u || true)
  [ -z "$missing" ] || say "note: the binaries also load: $(echo "$missing" | tr '\n' ' ')"
  say "prepared .gpu/ ($(du -sh .gpu | cut -f1)); the whole tree that travels must stay under 64 MiB"
  echo 'device run: command "bash scripts/gpu_check.sh run 2>&1 | tee $OUT/gpu_check.log", carry [".gpu"]'
}

run_checks() {
  local gpus=${1:-1}
  local out=${OUT:-/tmp/gpu_check}
  mkdir -p "$out"
  [ -d .gpu/bin ] || { say "no .gpu/bin: run 'scripts/gpu_check.sh prepare' on the build machine and carry .gpu"; exit 1; }
  local python=${PYTHON:-python3}
  local torch_lib
  torch_lib=$("$python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
  export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export SORAGEN_GOLDEN_DIR=$PWD/tests/data/golden
  local bin=$PWD/.gpu/bin
  # The sizes and precisions of the real run; dry-run shrinks them.
  local device=cuda official_dtypes=(bf16 amp-bf16) size=(--frames 81 --height 480 --width 832)
  local t2v_extra=() official_extra=()
  if [ "${GPU_CHECK_DRY_RUN:-0}" = 1 ]; then
    device=cpu official_dtypes=(fp32) size=(--frames 5 --height 64 --width 64)
    t2v_extra=(--dtype fp32 --encoder-layers 1 --threads 2)
    official_extra=(--warmup 1 --repeat 2 --threads 2)
  fi
  local summary=$out/summary.txt
  : >"$summary"
  note() { printf '%s\n' "$*" | tee -a "$summary"; }

  say "GPUs: $gpus requested"
  if [ "$device" = cuda ]; then
    nvidia-smi -L | tee -a "$out/nvidia-smi.txt"
    "$python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))'
  fi

  # 1. CUDA parity, fp32 with TF32 off, and the loop's synchronisations.
  local failed=0
  for test in test_text_encoder_parity test_dit_parity test_sampling_parity test_vae_parity test_vae22_parity \
              test_pipeline_parity test_wan22_pipeline_parity \
              test_denoise_loop; do
    if "$bin/$test" >"$out/$test.log" 2>&1 &&
       ! { [ "$device" = cuda ] && grep -q '^\[  SKIPPED \] .*[Cc]uda' "$out/$test.log"; }; then
      note "parity  $test: passed ($(grep -c '^\[       OK \]' "$out/$test.log" || true) tests)"
    else
      failed=1
      note "parity  $test: FAILED (see $test.log)"
      tail -n 30 "$out/$test.log"
    fi
  done
  # The measured bf16-on-the-device error against the fp32 reference.
  grep -h '^bf16 on ' "$out/test_pipeline_parity.log" | while read -r line; do note "parity  $line"; done

  # 2. The card's bf16 GEMM rate (8192^3, median of 20, CUDA events).
  local gemm
  gemm=$("$python" - "$device" <<'PY'
import sys, time, torch
device = sys.argv[1]
n, dtype = (8192, torch.bfloat16) if device == "cuda" else (1024, torch.float32)
a = torch.randn(n, n, device=device, dtype=dtype)
b = torch.randn(n, n, device=device, dtype=dtype)
for _ in range(3):
    a @ b
times = []
for _ in range(20 if device == "cuda" else 3):
    if device == "cuda":
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record(); a @ b; e.record(); torch.cuda.synchronize()
        times.append(s.elapsed_time(e) / 1e3)
    else:
        start = time.perf_counter(); a @ b; times.append(time.perf_counter() - start)
times.sort()
print(2 * n ** 3 / times[len(times) // 2] / 1e12)
PY
)
  note "gemm    $([ "$device" = cuda ] && echo 'bf16 8192^3' || echo 'fp32 1024^3 (dry run)'): $(printf '%.1f' "$gemm") TFLOP/s"

  # 3. The official Wan2.1 DiT: two B=1 calls per step as WanT2V.generate.
  #    bf16 weights first, saved for soragen to load; then fp32 weights under
  #    bf16 autocast, the released checkpoint's own setting.
  local weights=/tmp/gpu_check_dit.safetensors
  local first=1
  for dtype in "${official_dtypes[@]}"; do
    local save=()
    [ $first = 1 ] && save=(--save-weights "$weights")
    "$python" scripts/gpu_check/official_dit_step.py --official .gpu/official \
      --config models/configs/wan2.1-t2v-1.3b.json --device "$device" --dtype "$dtype" "${size[@]}" \
      "${official_extra[@]}" "${save[@]}" 2>&1 | tee "$out/official_$dtype.log"
    first=0
  done

  # 4. soragen on the same DiT weights: 10 UniPC steps.
  "$bin/bench_t2v" --device "$device" --dit-weights "$weights" --steps 10 "${size[@]}" "${t2v_extra[@]}" 2>&1 |
    tee "$out/bench_t2v.log"
  rm -f "$weights"

  # 5. Wan2.2: one CFG step of the official DiT (Wan2.2's model.py, bf16
  #    weights, two B=1 calls as generate makes them) and of soragen's
  #    bench_dit (bf16, the CFG batch of 2), TI2V-5B with per-token timesteps
  #    at 1280x704x121 and one T2V-A14B expert at 832x480x81. The dry run
  #    shrinks the configs to one narrow block.
  local wan22_models=(ti2v-5b t2v-a14b) wan22_dtype=bf16
  declare -A wan22_size=([ti2v-5b]="--frames 121 --height 704 --width 1280"
                         [t2v-a14b]="--frames 81 --height 480 --width 832")
  local wan22_configs=$out/wan22_configs
  mkdir -p "$wan22_configs"
  for model in "${wan22_models[@]}"; do
    cp "models/configs/wan2.2-$model.json" "$wan22_configs/"
  done
  if [ "${GPU_CHECK_DRY_RUN:-0}" = 1 ]; then
    wan22_dtype=fp32
    wan22_size=([ti2v-5b]="--frames 5 --height 64 --width 64" [t2v-a14b]="--frames 5 --height 32 --width 32")
    for model in "${wan22_models[@]}"; do
      "$python" - "$wan22_configs/wan2.2-$model.json" <<'PY'
import json, sys
path = sys.argv[1]
cfg = json.load(open(path))
cfg.update(dim=128, ffn_dim=256, num_heads=2, num_layers=1)
json.dump(cfg, open(path, "w"))
PY
    done
  fi
  for model in "${wan22_models[@]}"; do
    # shellcheck disable=SC2086  # the sizes are words
    "$python" scripts/gpu_check/official_dit_step.py --official .gpu/official22 \
      --config "$wan22_configs/wan2.2-$model.json" --device "$device" --dtype "$wan22_dtype" ${wan22_size[$model]} \
      --warmup 1 --repeat 2 "${official_extra[@]}" 2>&1 | tee "$out/official22_$model.log"
    # shellcheck disable=SC2086
    "$bin/bench_dit" --config "$wan22_configs/wan2.2-$model.json" --device "$device" --dtype "$wan22_dtype" \
      ${wan22_size[$model]} --warmup 1 --repeat 2 2>&1 | tee "$out/bench_dit22_$model.log"
  done
  "$python" - "$out" "${wan22_models[@]}" <<'PY' | tee -a "$summary"
import json, re, sys, pathlib
out, models = pathlib.Path(sys.argv[1]), sys.argv[2:]
for model in models:
    official = next(json.loads(l[7:]) for l in reversed((out / f"official22_{model}.log").read_text().splitlines())
                    if l.startswith("RESULT "))
    ours = re.search(r"seconds per step: ([0-9.]+)", (out / f"bench_dit22_{model}.log").read_text())
    if not ours:
        raise SystemExit(f"no 'seconds per step' in bench_dit22_{model}.log")
    step = float(ours.group(1))
    print(f"wan2.2 {model}: soragen {step:.3f} s per CFG step, official {official['step_seconds_median']:.3f} s "
          f"({official['tokens']} tokens): official/soragen = {official['step_seconds_median'] / step:.2f}x")
PY

  # 6. With GPUS > 1 (or a dry run, on 2 CPU processes): one CFG step of
  #    Wan2.1 1.3B at the check's size, on 1 process and with Ulysses over
  #    1..GPUS (bench_dit under torchrun), for docs/multi_gpu_scaling.md's
  #    table. NCCL carries the all-to-alls between the GPUs (Gloo, through
  #    host memory, in the dry run); first, the NCCL channel test.
  local ranks=$gpus multi_extra=(--dtype bf16)
  if [ "${GPU_CHECK_DRY_RUN:-0}" = 1 ]; then
    ranks=2
    multi_extra=(--dtype fp32 --layers 1 --threads 1)
  fi
  if [ "$ranks" -gt 1 ] && [ "$device" = cuda ]; then
    if "$bin/test_distributed" --gtest_filter='ProcessGroup.CudaTensorsGoBetweenGpusThroughNccl' \
        >"$out/test_distributed_nccl.log" 2>&1 && grep -q '^\[       OK \]' "$out/test_distributed_nccl.log"; then
      note "nccl    CUDA tensors between GPUs: passed"
    else
      note "nccl    CUDA tensors between GPUs: FAILED or skipped (see test_distributed_nccl.log)"
    fi
  fi
  if [ "$ranks" -gt 1 ]; then
    for n in 1 "$ranks"; do
      "$python" -m torch.distributed.run --standalone --nproc-per-node "$n" --no-python "$bin/bench_dit" \
        --device "$device" "${size[@]}" "${multi_extra[@]}" --warmup 1 --repeat 3 2>&1 | tee "$out/bench_dit_ulysses$n.log"
    done
    "$python" - "$out" "$ranks" <<'PY' | tee -a "$summary"
import re, sys, pathlib
out, n = pathlib.Path(sys.argv[1]), sys.argv[2]
step = lambda k: float(re.search(r"seconds per step: ([0-9.]+)", (out / f"bench_dit_ulysses{k}.log").read_text()).group(1))
one, many = step(1), step(n)
print(f"ulysses wan2.1 1.3B: 1 GPU {one:.3f} s per CFG step, {n} GPUs {many:.3f} s: {one / many:.2f}x")
PY
  fi

  # 7. fp8 block weights (--fp8-weights): one Wan2.1 1.3B CFG step with the
  #    weights as bf16 and as e4m3fn codes multiplied with _scaled_mm (decoded
  #    per call in the dry run, where the CPU has no fp8 product).
  local fp8_extra=(--dtype bf16)
  [ "${GPU_CHECK_DRY_RUN:-0}" = 1 ] && fp8_extra=(--dtype fp32 --layers 1 --threads 2)
  for weights in bf16 fp8; do
    local flag=()
    [ "$weights" = fp8 ] && flag=(--fp8)
    "$bin/bench_dit" --device "$device" "${size[@]}" "${fp8_extra[@]}" "${flag[@]}" --warmup 1 --repeat 3 2>&1 |
      tee "$out/bench_dit_$weights.log"
  done
  "$python" - "$out" <<'PY' | tee -a "$summary"
import re, sys, pathlib
out = pathlib.Path(sys.argv[1])
step = lambda w: float(re.search(r"seconds per step: ([0-9.]+)", (out / f"bench_dit_{w}.log").read_text()).group(1))
how = re.search(r"fp8 block weights: (.*)", (out / "bench_dit_fp8.log").read_text()).group(1)
print(f"fp8     wan2.1 1.3B CFG step: bf16 weights {step('bf16'):.3f} s, fp8 weights {step('fp8'):.3f} s "
      f"({how}): {step('bf16') / step('fp8'):.2f}x")
PY

  # 8. The summary.
  "$python" - "$out" "$gemm" "${official_dtypes[@]}" <<'PY' | tee -a "$summary"
import json, sys, pathlib
out, gemm, dtypes = pathlib.Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
def result(name):
    for line in reversed((out / name).read_text().splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise SystemExit(f"no RESULT line in {name}")
ours = result("bench_t2v.log")
officials = [(d, result(f"official_{d}.log")) for d in dtypes]
step = ours["step_seconds"]
tflops = ours["step_flops"] / step / 1e12
gib = lambda b: "n/a" if b is None or b < 0 else f"{b / 2**30:.1f} GiB"
print(f"soragen  per step {step:.3f} s (CFG batch 2, {ours['dtype']}, {ours['tokens']} tokens): {tflops:.1f} TFLOP/s, "
      f"{100 * tflops / gemm:.0f}% of the measured bf16 GEMM rate")
print(f"soragen  text encoding {ours['encode_seconds']:.2f} s, VAE decode {ours['decode_seconds']:.2f} s "
      f"({ours['frames']} frames), end to end {ours['end_to_end_seconds']:.1f} s for {ours['steps']} steps")
print(f"soragen  peak GPU memory: " + ", ".join(f"{k} {gib(v)}" for k, v in ours["peak_bytes"].items()))
names = {"bf16": "bf16 weights", "amp-bf16": "fp32 weights + bf16 autocast", "fp32": "fp32"}
for dtype, r in officials:
    print(f"official per step {r['step_seconds_median']:.3f} s ({names[dtype]}, two calls, sdpa-patched), "
          f"peak {gib(r.get('peak_bytes'))}: official/soragen = {r['step_seconds_median'] / step:.2f}x")
print("targets: >= 1.5x the official per step, >= 60% of the GEMM rate, VAE decode of 81 frames < 10 s")
PY
  say "logs in $out"
  return $failed
}

case $mode in
  prepare) prepare ;;
  run) shift; run_checks "$@" ;;
  dry-run) GPU_CHECK_DRY_RUN=1 run_checks 1 ;;
  *)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
    [ "$mode" = -h ] || [ "$mode" = --help ] || exit 2
    ;;
esac
