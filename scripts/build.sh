#!/usr/bin/env bash
# Configures and builds into build/ (override with BUILD_DIR). Extra arguments
# go to CMake's configure step, e.g. -DCMAKE_CUDA_ARCHITECTURES=90a.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
export PATH="$PATH:/usr/local/cuda/bin"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"
