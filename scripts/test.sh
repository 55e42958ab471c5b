#!/usr/bin/env bash
# Sets up and builds (scripts/setup.sh, idempotent), then runs the whole test
# suite with ctest. Extra arguments go to ctest, e.g. `scripts/test.sh -L unit`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
build_dir=${SORAGEN_BUILD_DIR:-build}
cd "$build_dir"
ctest --output-on-failure -j "$(nproc)" "$@"
