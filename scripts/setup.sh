#!/usr/bin/env bash
# Installs every Debian package that soragen's build, tests and tools need,
# then configures and builds soragen in Release under build/.
# Idempotent: packages already installed are not touched and the build is
# incremental. Runs as root or through sudo.
#
#   scripts/setup.sh                 # install + build
#   SORAGEN_BUILD_DIR=out scripts/setup.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir=${SORAGEN_BUILD_DIR:-build}

packages=(
  build-essential cmake ninja-build pkg-config ccache
  libtorch-dev              # libtorch 1.13 (CPU)
  libopenblas0-pthread      # replaces the slow reference BLAS (PLATFORM.md, trap 2)
  libsentencepiece-dev      # tokenizer (loaded through a shim, trap 1)
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev ffmpeg  # MP4 out; ffprobe for checks
  libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libgtest-dev
)

say() { printf 'setup: %s\n' "$*"; }

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

if [ ! -f "$build_dir/build.ninja" ]; then
  say "configuring $build_dir (Release)"
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
say "building in $build_dir"
cmake --build "$build_dir" -j "$(nproc)"
say "done: $build_dir/soragen"
