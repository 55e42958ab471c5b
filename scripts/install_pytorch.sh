#!/usr/bin/env bash
# Installs PyTorch's CUDA libtorch (the C++ part of the pinned `torch` wheel
# from PyPI) and the CUDA runtime libraries it loads into a private prefix
# inside the checkout, for scripts/setup.sh when SORAGEN_TORCH=pytorch.
#
#   scripts/install_pytorch.sh          # prints the torch folder: CMAKE_PREFIX_PATH
#
# Only what a C++ program needs is unpacked: torch/{include,lib,share} and the
# nvidia-* libraries libtorch_cuda.so links (no Python packages, no triton, no
# cuSOLVER, which only libtorch_cuda_linalg.so loads). The prefix keeps the
# wheels' site-packages layout, torch/ beside nvidia/, so libtorch's own RPATH
# ($ORIGIN/../../nvidia/*/lib) finds the CUDA libraries with no
# LD_LIBRARY_PATH. The libraries load on a machine without a GPU, where
# everything runs on the CPU.
#
# Wheels are cached in $SORAGEN_WHEEL_CACHE (default ~/.cache/soragen/wheels):
# pip checks each against the index's hash when it downloads it, and a wheel
# already there is reused, so a fresh clone on the same machine does not
# download 2 GB again.
#
# When no CUDA toolkit is installed (no nvcc), the CMake package of a CUDA
# libtorch still needs one to configure (enable_language(CUDA)); the script
# then also unpacks nvcc and the CUDA headers from the same release's wheels
# into <prefix>/cuda, and setup.sh points CMake at it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

torch_version=2.11.0  # the GPU machines' PyTorch (2.11.0+cu130)
prefix=${SORAGEN_PYTORCH_PREFIX:-.deps/pytorch-$torch_version}
cache=${SORAGEN_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/soragen/wheels}

# The CUDA runtime pieces torch 2.11.0's wheel pins (its Requires-Dist),
# limited to the libraries libtorch_cuda.so and its dependencies load.
runtime_wheels=(
  nvidia-cuda-runtime==13.0.96
  nvidia-cublas==13.1.0.3
  nvidia-cudnn-cu13==9.19.0.56
  nvidia-cufft==12.0.0.61
  nvidia-cufile==1.15.1.6
  nvidia-cuda-cupti==13.0.85
  nvidia-curand==10.4.0.35
  nvidia-cusparse==12.6.3.3
  nvidia-cusparselt-cu13==0.8.0
  nvidia-nccl-cu13==2.28.9
  nvidia-nvshmem-cu13==3.4.5
  nvidia-nvjitlink==13.0.88
  nvidia-cuda-nvrtc==13.0.88
)
# A build-only CUDA toolkit, for machines without one.
toolkit_wheels=(
  nvidia-cuda-nvcc==13.0.88
  nvidia-nvvm==13.0.88
  nvidia-cuda-crt==13.0.88
  nvidia-cuda-cccl==13.0.85
)

say() { printf 'install_pytorch: %s\n' "$*" >&2; }

python=""
for candidate in python3 /usr/bin/python3; do
  if command -v "$candidate" >/dev/null && "$candidate" -m pip --version >/dev/null 2>&1; then
    python=$candidate
    break
  fi
done
if [ -z "$python" ]; then
  say "needs python3 with pip to download the torch wheel (Debian: apt-get install python3-pip)"
  exit 1
fi

have_toolkit() {
  command -v nvcc >/dev/null || [ -x "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" ]
}

wheels=("torch==$torch_version" "${runtime_wheels[@]}")
if ! have_toolkit; then
  wheels+=("${toolkit_wheels[@]}")
fi

stamp="$prefix/.installed"
want="${wheels[*]}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  say "already installed in $prefix"
  echo "$prefix/torch"
  exit 0
fi

mkdir -p "$cache"
say "downloading ${#wheels[@]} wheels into $cache (cached)"
# --no-deps: the wheel's Python dependencies (sympy, triton, ...) are not
# needed by C++; the CUDA pieces are listed above with the torch wheel's pins.
"$python" -m pip download --quiet --no-deps --only-binary=:all: --dest "$cache" "${wheels[@]}" >&2

wheel_file() {
  # name==version -> the cached file (pip normalises - to _ in file names)
  local name=${1%%==*} version=${1##*==}
  local stem=${name//-/_}
  local match
  match=$(find "$cache" -maxdepth 1 -name "${stem}-${version}-*.whl" | sort | tail -n 1)
  if [ -z "$match" ]; then
    say "no wheel for $1 in $cache after download"
    exit 1
  fi
  echo "$match"
}

rm -rf "$prefix.partial"
mkdir -p "$prefix.partial"
for spec in "${wheels[@]}"; do
  file=$(wheel_file "$spec")
  case $spec in
    torch==*)
      say "unpacking libtorch from $(basename "$file")"
      unzip -q -o "$file" 'torch/include/*' 'torch/lib/*' 'torch/share/*' -x 'torch/lib/libtorch_python.so' \
        -d "$prefix.partial"
      ;;
    *)
      unzip -q -o "$file" 'nvidia/*' -d "$prefix.partial"
      ;;
  esac
done

if ! have_toolkit; then
  # A toolkit-shaped tree (bin/, include/, lib64/ with the .so links a
  # linker wants) from the cu13 wheels, for CMake's FindCUDAToolkit.
  tree="$prefix.partial/nvidia/cu13"
  mkdir -p "$tree/lib64"
  for lib in "$tree"/lib/*.so.*; do
    base=$(basename "$lib")
    ln -sf "../lib/$base" "$tree/lib64/$base"
    ln -sf "../lib/$base" "$tree/lib64/${base%%.so.*}.so"
  done
  ln -sfn nvidia/cu13 "$prefix.partial/cuda"
fi

echo "$want" >"$prefix.partial/.installed"
rm -rf "$prefix"
mv "$prefix.partial" "$prefix"
say "installed in $prefix"
echo "$prefix/torch"
