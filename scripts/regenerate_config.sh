#!/usr/bin/env bash
# Regenerate the BMM kernel configuration for the GPU at hand, in one command:
#   sweep -> select -> rebuild
#
#   1. sweep:   build/btcbench sweep instr && ... sweep stride && ... sweep layout
#               (new results files under results/<gpu-slug>/)
#   2. select:  python3 formats/select_config.py --results-dir results/<gpu-slug>
#               rewrites kernels/generated/bmm_config_sm<arch>.{h,md} for this
#               GPU's arch (the newest results file of each suite decides; the
#               .md says why each value won, with the figures)
#   3. rebuild: scripts/build.sh
#
# Usage:
#   scripts/regenerate_config.sh [--no-sweep] [--results-dir DIR] [-- SWEEP_ARGS...]
#
#   --no-sweep         skip step 1: select from the results already in results/<gpu-slug>/
#   --results-dir DIR  select from DIR instead of results/<gpu-slug>/ (no GPU query needed;
#                      with --no-sweep, nothing here needs a GPU)
#   SWEEP_ARGS         passed to every `btcbench sweep` (e.g. -- --quick, -- --device 1;
#                      not --out: step 2 reads results/<gpu-slug>/)
#
# The GPU slug comes from `build/btcbench info --json` (BUILD_DIR overrides build/).
# The binary is built first if it is missing. Review and commit the changed
# kernels/generated/ files (and results/) to make the new configuration the
# checked-in one; `python3 formats/select_config.py --results-dir DIR --check`
# tells CI whether they are up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
sweep=1
results_dir=""
sweep_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-sweep) sweep=0 ;;
    --results-dir)
      [ $# -ge 2 ] || { echo "regenerate_config: --results-dir needs a directory" >&2; exit 2; }
      results_dir=$2
      shift ;;
    --) shift; sweep_args=("$@"); break ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "regenerate_config: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

need_binary=$sweep
[ -z "$results_dir" ] && need_binary=1
if [ "$need_binary" = 1 ] && [ ! -x "$build/btcbench" ]; then
  echo "regenerate_config: $build/btcbench missing; building it first"
  scripts/build.sh
fi

if [ -z "$results_dir" ]; then
  if ! info=$("$build/btcbench" info --json); then
    echo "regenerate_config: cannot query the GPU (above); pass --results-dir DIR to select from existing results" >&2
    exit 1
  fi
  slug=$(python3 -c 'import json, sys; print(json.loads(sys.stdin.read())["slug"])' <<<"$info")
  results_dir="results/$slug"
fi

if [ "$sweep" = 1 ]; then
  for suite in instr stride layout; do
    echo "regenerate_config: sweep $suite"
    "$build/btcbench" sweep "$suite" "${sweep_args[@]}"
  done
fi

echo "regenerate_config: select from $results_dir"
python3 formats/select_config.py --results-dir "$results_dir"

echo "regenerate_config: rebuild"
scripts/build.sh
