#!/usr/bin/env bash
# Proves the Turing (sm_75) and Ampere (sm_80) code paths on the GPU at hand:
# builds PTX-only trees for compute_75 and compute_80 (the driver JIT-compiles
# them for this GPU, so they run those archs' code, bit-exact, at this GPU's
# speed) and runs every GPU test of each. Every test must pass or skip with a
# reason ("built for compute_75; ... needs sm_80 code"); any failure fails.
#
#   scripts/check_arch_paths.sh               build both trees, then run them
#   scripts/check_arch_paths.sh --build-only  build here (e.g. on a machine without a GPU)
#   scripts/check_arch_paths.sh --run-only    run trees built earlier (e.g. carried to a GPU machine)
#   ARCHS="75" ...                            a subset; LOG_DIR=DIR puts the logs there
#
# Logs: $LOG_DIR (default results/<gpu-slug>/checks/) arch<NN>-<test binary>-<commit>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=all
case "${1:-}" in
  "") ;;
  --build-only) mode=build ;;
  --run-only) mode=run ;;
  -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
  *) echo "check_arch_paths: unknown argument '$1' (see --help)" >&2; exit 2 ;;
esac
archs=${ARCHS:-75 80}

if [ "$mode" != run ]; then
  for a in $archs; do
    echo "check_arch_paths: building build-arch$a (CMAKE_CUDA_ARCHITECTURES=$a-virtual)"
    BUILD_DIR=build-arch$a scripts/build.sh -DCMAKE_CUDA_ARCHITECTURES="$a-virtual" >/dev/null
  done
fi
[ "$mode" = build ] && exit 0

status=0
for a in $archs; do
  dir=build-arch$a
  [ -x "$dir/btc_gpu_tests" ] || { echo "check_arch_paths: $dir/btc_gpu_tests missing (build first)" >&2; exit 1; }
  if ! info=$("$dir/btcbench" info --json 2>&1); then
    echo "check_arch_paths: no GPU here ($info); nothing run" >&2
    exit 3
  fi
  slug=$(python3 -c 'import json, sys; print(json.loads(sys.stdin.read())["slug"])' <<<"$info")
  commit=$(python3 -c 'import json, sys; print(json.loads(sys.stdin.read())["git_commit"][:7])' <<<"$info")
  code=$(python3 -c 'import json, sys; print(json.loads(sys.stdin.read())["code_target"])' <<<"$info")
  logs=${LOG_DIR:-results/$slug/checks}
  mkdir -p "$logs"
  for t in btc_gpu_tests formats/btc_formats_gpu_tests; do
    log="$logs/arch$a-$(basename "$t")-$commit.log"
    echo "check_arch_paths: $dir/$t ($code) -> $log"
    if "$dir/$t" >"$log" 2>&1; then rc=0; else rc=$?; fi
    summary=$(grep -E '^\[ +(PASSED|FAILED|SKIPPED) +\] [0-9]+ test' "$log" | tr '\n' ' ' || true)
    echo "  rc=$rc  $summary"
    [ "$rc" = 0 ] || status=1
  done
done
exit $status
