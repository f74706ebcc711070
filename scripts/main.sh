#!/usr/bin/env bash
# The main job: set up, build, run the characterization sweeps on the GPU at
# hand (results/<gpu>/<suite>-*.json; BTC_SUITES picks them, default
# "instr stride layout bmm bconv net"), then rebuild every plot and table from results/.
# Without a GPU it says so and does the CPU part only: the CPU reference
# forward of a small model on a sample input, with its top-5, and the plots
# and tables. Either way it ends with an in situ capture of a network's
# layers and its browsable view (docs/insitu.md) under ${BTC_INSITU_DIR:-build/insitu-capture}.
# Arguments go to every `btcbench sweep` (e.g. --quick).
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
  insitu_run=("$build/btcbench" run resnet18-bireal --batch 32 --insitu-every 10 --forwards 50)
else
  echo "main: no GPU here (${reason#btcbench: }); skipping the sweeps; the CPU reference of tiny-resnet, then plots and tables from results/"
  insitu_run=("$build/btcbench" run tiny-resnet --cpu)
fi
python3 -m analysis.rebuild_all --results-dir results
# A fresh capture each time (the writer refuses a directory that is not
# empty): the last one is replaced, anything else at that path is kept.
# Not build/insitu: that is CMake's folder of insitu/.
insitu_dir=${BTC_INSITU_DIR:-$build/insitu-capture}
if [ -e "$insitu_dir" ] && [ ! -f "$insitu_dir/capture.json" ]; then
  echo "main: $insitu_dir exists and is not a capture; set BTC_INSITU_DIR to another path" >&2
  exit 1
fi
rm -rf "$insitu_dir"
"${insitu_run[@]}" --insitu "$insitu_dir"
python3 -m analysis.insitu_view "$insitu_dir"
echo "main: the in situ view of the run: $insitu_dir/view/index.html (ParaView: $insitu_dir/<layer>/output.pvd)"
