#!/usr/bin/env bash
# The PyTorch forward (analysis/net_torch.py) against the C++ side on the
# half-precision models, layer by layer with teacher forcing (each layer on
# the C++ side's inputs, as net/check.cpp does). For the lent GPU machine,
# from the repo root with build/ present (nothing is built here).
#
#   scripts/net_torch_check.sh [LOG_DIR]   (default $OUT/checks, else ./torch-check)
#   BUILD_DIR=DIR   the build folder (default build)
#   MODELS="..."    default: tiny-bireal resnet18-bireal resnet18-fp16
#   BATCH=N         images per model (default 2)
#   PYTHON=EXE      the Python with torch (default python3)
#   DEVICE=numpy    net_torch's numpy backend instead of torch (no torch needed: the
#                   same checks on a machine without PyTorch, such as CI's)
#
# Per model M, into LOG_DIR/M/ (one log per step, the command on its first line):
#   weights, images   python3 -m analysis.net_torch weights / images (seeded)
#   cpu-capture       btcbench run M --cpu --weights --input --insitu: the C++ reference's layers
#   cpu-reordered     net_torch check against it: torch's conv2d / linear for the real layers,
#                     judged within the bound of docs/models.md; every other layer exact
#   cpu-ordered       the same with --real ordered: every layer bit-equal
# and where btcbench sees a GPU:
#   gpu-auto          btcbench run M --check --insitu (the runner's default designs: cuDNN /
#                     cuBLAS real layers), then net_torch check against its capture (within the bound)
#   gpu-half          the same with --designs auto,conv=conv_half,fc=fc_half (real layers in the
#                     reference's order), checked with --real ordered: every layer bit-equal
# One verdict line per model (also in LOG_DIR/summary.txt).
#
# Exit: 0 every check passed, 1 one failed, 2 cannot run (no torch, no btcbench).
set -uo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
esac
logs=${1:-${OUT:+$OUT/checks}}
logs=${logs:-torch-check}
build=${BUILD_DIR:-build}
models=${MODELS:-tiny-bireal resnet18-bireal resnet18-fp16}
batch=${BATCH:-2}
py=${PYTHON:-python3}

if [ ! -x "$build/btcbench" ]; then
  echo "net_torch_check: $build/btcbench missing (build first: scripts/build.sh)" >&2
  exit 2
fi
if [ "${DEVICE:-}" = numpy ]; then
  device=numpy
elif ! device=$("$py" -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")' 2>/dev/null); then
  echo "net_torch_check: torch is not importable by $py (the check needs PyTorch; PYTHON=... picks another Python)" >&2
  exit 2
fi
gpu=yes
"$build/btcbench" info >/dev/null 2>&1 || gpu=no
mkdir -p "$logs" || { echo "net_torch_check: cannot create $logs" >&2; exit 2; }
images=$(seq -s, 0 $((batch - 1)))
# The binary's commit (a copied tree may carry a stale .git), else git's.
commit=$("$build/btcbench" --version 2>/dev/null | cut -d' ' -f2)
[ -n "$commit" ] || commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "net_torch_check: commit $commit, torch on $device, GPU runner: $gpu, batch $batch; logs in $logs" \
  | tee "$logs/summary.txt"
status=0

step() {  # step <log> <command...>: the command's output goes to the log; returns its status
  local log=$1
  shift
  { echo "# $*"; echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $commit"; } >"$log"
  "$@" >>"$log" 2>&1
}

for m in $models; do
  dir=$logs/$m
  rm -rf "$dir" && mkdir -p "$dir" || { echo "net_torch_check: cannot create $dir" >&2; exit 2; }
  w=$dir/weights.safetensors x=$dir/images.npy
  results=() failed=()
  record() {  # record <name> <status>
    if [ "$2" = 0 ]; then results+=("$1 ok"); else results+=("$1 FAILED"); failed+=("$dir/$1.log"); fi
  }
  if ! step "$dir/setup.log" "$py" -m analysis.net_torch weights --model "$m" --seed 1 --out "$w" ||
     ! "$py" -m analysis.net_torch images --model "$m" --batch "$batch" --seed 2 --out "$x" >>"$dir/setup.log" 2>&1
  then
    printf '%-6s %-16s weights or images failed (%s)\n' FAILED "$m" "$dir/setup.log" | tee -a "$logs/summary.txt"
    status=1
    continue
  fi
  check() {  # check <name> <capture> [options...]: net_torch check against a capture
    local name=$1 cap=$2
    shift 2
    step "$dir/$name.log" "$py" -m analysis.net_torch check --model "$m" --weights "$w" --input "$x" \
      --reference "$cap" --device "$device" "$@"
    record "$name" $?
  }
  # The C++ reference's layers, then the torch forward on them: reordered (the bound) and ordered (exact).
  if step "$dir/cpu-capture.log" "$build/btcbench" run "$m" --cpu --weights "$w" --input "$x" \
       --insitu "$dir/cpu-capture" --insitu-images "$images"; then
    check cpu-reordered "$dir/cpu-capture" --real reordered
    check cpu-ordered "$dir/cpu-capture" --real ordered
  else
    record cpu-capture 1
  fi
  if [ "$gpu" = yes ]; then
    # The GPU runner's layers (its own --check against the CPU reference in the same log).
    for variant in "gpu-auto auto reordered" "gpu-half auto,conv=conv_half,fc=fc_half ordered"; do
      set -- $variant
      if step "$dir/$1-capture.log" "$build/btcbench" run "$m" --weights "$w" --input "$x" --designs "$2" --check \
           --repetitions 2 --forwards 1 --insitu "$dir/$1-capture" --insitu-images "$images"; then
        check "$1" "$dir/$1-capture" --real "$3"
      else
        record "$1-capture" 1
      fi
    done
  fi
  joined=$(IFS=,; echo "${results[*]}" | sed 's/,/, /g')
  if [ ${#failed[@]} -eq 0 ]; then
    line=$(printf '%-6s %-16s %s (logs %s)' ok "$m" "$joined" "$dir")
  else
    status=1
    line=$(printf '%-6s %-16s %s; see %s' FAILED "$m" "$joined" "${failed[*]}")
  fi
  echo "$line" | tee -a "$logs/summary.txt"
done
exit $status
