#!/usr/bin/env bash
# Sets up and builds (scripts/setup.sh, idempotent), then runs the whole test
# suite with ctest. Extra arguments go to ctest, e.g. `scripts/test.sh -L unit`.
# SORAGEN_TORCH and SORAGEN_BUILD_DIR choose the build as for setup.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
source scripts/build_choice.sh  # torch_choice, build_dir
cd "$build_dir"
ctest --output-on-failure -j "$(nproc)" "$@"
