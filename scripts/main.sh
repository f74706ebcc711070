#!/usr/bin/env bash
# The main job: set up, build, run the characterization sweeps on the GPU at
# hand (results/<gpu>/<suite>-*.json; BTC_SUITES picks them, default
# "instr stride layout bmm bconv net"), then rebuild every plot and table from results/.
# Without a GPU it says so and does the CPU part only: the CPU reference
# forward of a small model on a sample input, with its top-5, and the plots
# and tables. Arguments go to every `btcbench sweep` (e.g. --quick).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
build=${BUILD_DIR:-build}

if reason=$("$build/btcbench" info 2>&1 >/dev/null); then
  "$build/btcbench" info
  for suite in ${BTC_SUITES:-instr stride layout bmm bconv net}; do
    "$build/btcbench" sweep "$suite" "$@"
  done
else
  echo "main: no GPU here (${reason#btcbench: }); skipping the sweeps; the CPU reference of tiny-resnet, then plots and tables from results/"
  "$build/btcbench" run tiny-resnet --cpu
fi
python3 -m analysis.rebuild_all --results-dir results
