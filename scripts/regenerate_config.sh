#!/usr/bin/env bash
# Regenerate the BMM kernel configuration for the GPU at hand, in one command:
#   sweep -> candidates -> select -> rebuild
#
#   1. sweep:      build/btcbench sweep instr && ... sweep stride && ... sweep layout
#                  (new results files under results/<gpu-slug>/)
#   2. candidates: on an sm_90 GPU, a candidates tree (the kWgmmaAnd candidate rows of
#                  kernels/generated/bmm_candidates_sm90.h, each a wgmma_and design):
#                    BUILD_DIR=build-candidates scripts/build.sh -DBTC_BMM_CANDIDATES=ON \
#                      -DCMAKE_CUDA_ARCHITECTURES=90a
#                    build-candidates/btcbench sweep bmm --filter '<wgmma_and at 8192^3, 16384^3>'
#                  (a bmm results file under results/<gpu-slug>/ whose forms say which
#                  design ran which configuration)
#   3. select:     python3 -m analysis.select --results-dir results/<gpu-slug>
#                  rewrites kernels/generated/bmm_config_sm<arch>.{h,md} for this
#                  GPU's arch (the newest results file of each suite decides, and the
#                  newest bmm file with measured candidates; the .md says why each
#                  value won, with the figures)
#                  then the per-shape selections, each from the newest file of its suite
#                  in which a production tensor-core design ran (a `bmm` sweep for the
#                  BMM design per FC shape, a `bconv` sweep for the BConv design per
#                  layer; neither is swept here: run `btcbench sweep bmm` / `sweep bconv`
#                  first for fresh ones):
#                    python3 -m analysis.select.bmm_shapes results/<gpu-slug>
#                    python3 -m analysis.select.bconv results/<gpu-slug>
#                  rewrite kernels/generated/{bmm,bconv}_selection_sm<arch>.{json,md,h}
#   4. rebuild:    scripts/build.sh
#
# Usage:
#   scripts/regenerate_config.sh [--no-sweep] [--no-candidates] [--results-dir DIR] [-- SWEEP_ARGS...]
#
#   --no-sweep         skip steps 1 and 2: select from the results already in results/<gpu-slug>/
#   --no-candidates    skip step 2 (the candidates build takes a while and the sweep minutes)
#   --results-dir DIR  select from DIR instead of results/<gpu-slug>/ (with --no-sweep,
#                      nothing here needs a GPU)
#   SWEEP_ARGS         passed to every `btcbench sweep` (e.g. -- --quick, -- --device 1;
#                      not --out: step 3 reads results/<gpu-slug>/)
#
# The GPU slug and compute capability come from `build/btcbench info --json`
# (BUILD_DIR overrides build/). The binary is built first if it is missing.
# Review and commit the changed kernels/generated/ files (and results/) to
# make the new configuration the checked-in one;
# `python3 -m analysis.select --results-dir DIR --check` tells CI whether they
# are up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
candidates_build=build-candidates
# The candidates' figures: the square problems analysis.select ranks them by.
candidates_filter='wgmma_and.*/m:(8192|16384)/n:(8192|16384)/k:(8192|16384)/'
sweep=1
candidates=1
results_dir=""
sweep_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-sweep) sweep=0 ;;
    --no-candidates) candidates=0 ;;
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

need_gpu=$sweep
[ -z "$results_dir" ] && need_gpu=1
if [ "$need_gpu" = 1 ] && [ ! -x "$build/btcbench" ]; then
  echo "regenerate_config: $build/btcbench missing; building it first"
  scripts/build.sh
fi

slug="" cc=""
if [ "$need_gpu" = 1 ]; then
  if ! info=$("$build/btcbench" info --json); then
    echo "regenerate_config: cannot query the GPU (above); pass --no-sweep --results-dir DIR to select from existing results" >&2
    exit 1
  fi
  read -r slug cc < <(python3 -c 'import json, sys; d = json.loads(sys.stdin.read()); print(d["slug"], d["cc"])' <<<"$info")
fi
[ -z "$results_dir" ] && results_dir="results/$slug"

if [ "$sweep" = 1 ]; then
  for suite in instr stride layout; do
    echo "regenerate_config: sweep $suite"
    "$build/btcbench" sweep "$suite" "${sweep_args[@]}"
  done
  if [ "$candidates" = 1 ]; then
    case "$cc" in
      9.*)
        echo "regenerate_config: build the kWgmmaAnd candidates ($candidates_build/) and sweep them"
        BUILD_DIR=$candidates_build scripts/build.sh -DBTC_BMM_CANDIDATES=ON -DCMAKE_CUDA_ARCHITECTURES=90a
        "$candidates_build/btcbench" sweep bmm --filter "$candidates_filter" "${sweep_args[@]}" ;;
      *) echo "regenerate_config: compute capability $cc: no wgmma, no kWgmmaAnd candidates to sweep" ;;
    esac
  fi
fi

echo "regenerate_config: select from $results_dir"
python3 -m analysis.select --results-dir "$results_dir"
for per_shape in bmm bconv; do
  if compgen -G "$results_dir/$per_shape-*.json" > /dev/null; then
    module=$([ "$per_shape" = bmm ] && echo bmm_shapes || echo bconv)
    python3 -m "analysis.select.$module" "$results_dir"
  else
    echo "regenerate_config: no $per_shape results in $results_dir: the $per_shape per-shape selection stays as committed"
  fi
done

echo "regenerate_config: rebuild"
scripts/build.sh
