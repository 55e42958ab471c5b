#!/usr/bin/env bash
# Installs every package that soragen's build, tests and tools need, then
# configures and builds soragen in Release.
# Idempotent: packages already installed are not touched and the build is
# incremental. Runs as root or through sudo.
#
#   scripts/setup.sh                        # install + build
#   SORAGEN_TORCH=pytorch scripts/setup.sh  # against PyTorch's CUDA libtorch
#   SORAGEN_BUILD_DIR=out scripts/setup.sh
#
# Which libtorch (SORAGEN_TORCH):
#   debian   Debian's libtorch-dev 1.13, CPU only; builds into build/.
#   pytorch  PyTorch 2.11.0's CUDA libtorch from the PyPI wheel, unpacked with
#            the CUDA runtime it loads into .deps/ (scripts/install_pytorch.sh);
#            builds into build-cuda/. It runs on machines without a GPU too.
#   auto     (default) pytorch when an NVIDIA GPU answers `nvidia-smi`,
#            else debian. On a GPU machine where build/ does not exist yet,
#            build/ becomes a link to build-cuda/, so build/soragen is the
#            GPU build.
# To build against a PyTorch that is already installed instead, configure by
# hand (README.md, "Building"):
#   torch_root=$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')
#   cmake -S . -B build-cuda -G Ninja -DCMAKE_PREFIX_PATH="$torch_root" \
#     -DTorch_DIR="$torch_root/share/cmake/Torch"
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'setup: %s\n' "$*"; }

source scripts/build_choice.sh  # torch_choice, build_dir

packages=(
  build-essential cmake ninja-build pkg-config ccache
  libopenblas0-openmp       # replaces the slow reference BLAS, on libtorch's threads (docs/platform.md, trap 2)
  libtcmalloc-minimal4      # the executables' malloc: keeps freed tensors' pages (cmake/SoragenMalloc.cmake)
  libsentencepiece-dev      # tokenizer (loaded through a shim, trap 1)
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev ffmpeg  # MP4 out; ffprobe for checks
  libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libgtest-dev
  libgloo-dev               # the headers of c10d's Gloo process group: tensors between processes
)
if [ "$torch_choice" = debian ]; then
  packages+=(libtorch-dev)  # libtorch 1.13 (CPU)
else
  packages+=(python3-pip unzip)  # to fetch and unpack the torch wheel
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null; then
  as_root=(sudo)
else
  say "must run as root or have sudo to install packages" >&2
  exit 1
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  "${as_root[@]}" apt-get update -q
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  say "all ${#packages[@]} packages are installed"
fi

# ccache hits across checkouts at other paths too (CI builds a fresh clone
# each time): paths are hashed relative to the checkout. Its cache is
# content-addressed, so reuse is safe.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}

configure=(-DCMAKE_BUILD_TYPE=Release)
if [ "$torch_choice" = pytorch ]; then
  torch_root=$(cd "$(scripts/install_pytorch.sh)" && pwd)
  torch_prefix=$(dirname "$torch_root")
  # The torch folder itself as the prefix, so its lib/ is searched before
  # the system's (Debian's libtorch may be installed too), and Torch_DIR
  # explicit for the same reason.
  configure+=("-DCMAKE_PREFIX_PATH=$torch_root" "-DTorch_DIR=$torch_root/share/cmake/Torch")
  if [ -d "$torch_prefix/cuda" ]; then
    # no CUDA toolkit on this machine: the wheels' nvcc and headers
    configure+=("-DCUDA_TOOLKIT_ROOT_DIR=$torch_prefix/cuda" "-DCMAKE_CUDA_COMPILER=$torch_prefix/cuda/bin/nvcc")
  elif ! command -v nvcc >/dev/null && [ -x "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" ]; then
    configure+=("-DCMAKE_CUDA_COMPILER=${CUDA_HOME:-/usr/local/cuda}/bin/nvcc")
  fi
fi

if [ ! -f "$build_dir/build.ninja" ]; then
  say "configuring $build_dir (Release, $torch_choice libtorch)"
  cmake -S . -B "$build_dir" -G Ninja "${configure[@]}"
fi
say "building in $build_dir"
cmake --build "$build_dir" -j "$(nproc)"
if [ "$build_dir" = build-cuda ] && [ ! -e build ] && [ -z "${SORAGEN_BUILD_DIR:-}" ]; then
  ln -s build-cuda build
  say "build/ links to build-cuda/"
fi
say "done: $build_dir/soragen"
