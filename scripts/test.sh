#!/usr/bin/env bash
# Builds and runs every test. GPU tests (label gpu) skip with a reason where
# there is no GPU; CPU tests (label cpu) always run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j"$(nproc)"
