#!/usr/bin/env bash
# The main job: set up, build, run the characterization sweeps on the GPU at
# hand (results/<gpu>/<suite>-*.json; BTC_SUITES picks them, default
# "instr stride layout bmm bconv"), then rebuild every plot and table from results/.
# Without a GPU it says so and does the CPU part only. Arguments go to every
# `btcbench sweep` (e.g. --quick).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
build=${BUILD_DIR:-build}

if reason=$("$build/btcbench" info 2>&1 >/dev/null); then
  "$build/btcbench" info
  for suite in ${BTC_SUITES:-instr stride layout bmm bconv}; do
    "$build/btcbench" sweep "$suite" "$@"
  done
else
  echo "main: no GPU here (${reason#btcbench: }); skipping the sweep, rebuilding plots and tables from results/"
fi
python3 -m analysis.rebuild_all --results-dir results
