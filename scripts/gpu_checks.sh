#!/usr/bin/env bash
# The evidence that the GPU code is right, as logs in the tree: runs on the
# GPU at hand, from build folders made here or elsewhere and carried (nothing
# is rebuilt), and writes every log to
# results/<gpu-slug>/checks/<name>-<commit>.log (slug and commit from
# `btcbench info --json`), one summary line per log.
#
#   1. gpu-tests, formats-gpu-tests: build/btc_gpu_tests, build/formats/btc_formats_gpu_tests
#   2. memcheck-designs, racecheck-designs: compute-sanitizer over every BMM and BConv design on
#      the small sizes (BTC_TEST_SMALL=1; the sanitizers run 10-100x slower)
#   3. arch-paths: scripts/check_arch_paths.sh --run-only, when build-arch75 /
#      build-arch80 exist (their own logs go beside: arch<NN>-<binary>-<commit>.log)
#
#   scripts/gpu_checks.sh
#   BUILD_DIR=DIR          the build folder (default build)
#   LOG_DIR=DIR            where the logs go (default results/<gpu-slug>/checks)
#   COMPUTE_SANITIZER=PATH the sanitizer (default: on PATH, else /usr/local/cuda/bin)
#
# Exit: 0 every check passed, 1 one failed or could not run (a missing
# binary or sanitizer counts: the evidence is missing), 3 no GPU here.
set -uo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  "") ;;
  -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
  *) echo "gpu_checks: unknown argument '$1' (see --help)" >&2; exit 2 ;;
esac
build=${BUILD_DIR:-build}

[ -x "$build/btcbench" ] || { echo "gpu_checks: $build/btcbench missing (build first: scripts/build.sh)" >&2; exit 1; }
if ! info=$("$build/btcbench" info --json 2>/dev/null); then
  echo "gpu_checks: no GPU here ($("$build/btcbench" info 2>&1 | head -1 | sed 's/^btcbench: //')); nothing run" >&2
  exit 3
fi
field() { python3 -c 'import json, sys; print(json.loads(sys.stdin.read())[sys.argv[1]])' "$1" <<<"$info"; }
slug=$(field slug)
commit=$(field git_commit | cut -c1-7)
logs=${LOG_DIR:-results/$slug/checks}
mkdir -p "$logs" || { echo "gpu_checks: cannot create $logs" >&2; exit 1; }
echo "gpu_checks: $(field name) ($(field code_target)), commit $commit; logs in $logs"

sanitizer=${COMPUTE_SANITIZER:-$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)}
design_filter='AllDesigns/BmmGpu.*:AllDesigns/BmmGpuCoverage.*:AllDesigns/BconvGpu.*:AllDesigns/BconvGpuCoverage.*'
status=0

# One line per log: the outcome, the log, and the lines that sum it up.
summarize() {  # summarize <name> <rc> <log>
  local name=$1 rc=$2 log=$3 verdict=ok
  [ "$rc" = 0 ] || { verdict=FAILED; status=1; }
  local summary
  summary=$(grep -hE '^\[  (PASSED|FAILED|SKIPPED) +\] [0-9]+ test|ERROR SUMMARY: [0-9]+|RACECHECK SUMMARY: .*|check_arch_paths: .*(missing|no GPU)|^  rc=' "$log" \
            | sed -E 's/^=+ //' | paste -sd ';' - | sed 's/;/; /g')
  printf '%-6s %-18s rc=%-3s %s  %s\n' "$verdict" "$name" "$rc" "$log" "$summary"
}

run_check() {  # run_check <name> <command...>: the command's output goes to the log
  local name=$1
  shift
  local log="$logs/$name-$commit.log"
  { echo "# $*"; echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(field name), commit $(field git_commit)"; } >"$log"
  "$@" >>"$log" 2>&1
  summarize "$name" $? "$log"
}

missing() {  # missing <name> <why>: a check that could not run fails, with a log saying why
  local log="$logs/$1-$commit.log"
  echo "gpu_checks: $2" >"$log"
  echo "FAILED $1: $2 ($log)"
  status=1
}

for t in "btc_gpu_tests gpu-tests" "formats/btc_formats_gpu_tests formats-gpu-tests"; do
  set -- $t
  if [ -x "$build/$1" ]; then run_check "$2" "$build/$1"; else missing "$2" "$build/$1 missing"; fi
done

if [ ! -x "$build/btc_gpu_tests" ]; then
  missing memcheck-designs "$build/btc_gpu_tests missing"
  missing racecheck-designs "$build/btc_gpu_tests missing"
elif [ ! -x "$sanitizer" ]; then
  missing memcheck-designs "compute-sanitizer not found (set COMPUTE_SANITIZER)"
  missing racecheck-designs "compute-sanitizer not found (set COMPUTE_SANITIZER)"
else
  # --error-exitcode: a hazard or bad access fails the check even where the test itself passed.
  run_check memcheck-designs env BTC_TEST_SMALL=1 "$sanitizer" --tool memcheck --error-exitcode 1 \
    "$build/btc_gpu_tests" --gtest_filter="$design_filter"
  # Not cuDNN's kernels under racecheck: third-party, and slow enough there
  # (fd41f39: the whole check timed out inside bconv_cudnn_f16) to crowd out ours.
  run_check racecheck-designs env BTC_TEST_SMALL=1 "$sanitizer" --tool racecheck --error-exitcode 1 \
    "$build/btc_gpu_tests" --gtest_filter="$design_filter-*cudnn*"
fi

archs=""
for a in 75 80; do [ -x "${ARCH_BUILD_PREFIX:-build-arch}$a/btc_gpu_tests" ] && archs="$archs $a"; done
if [ -n "$archs" ]; then
  run_check arch-paths env ARCHS="${archs# }" LOG_DIR="$logs" scripts/check_arch_paths.sh --run-only
else
  echo "skip   arch-paths         (no build-arch75 / build-arch80 here: scripts/check_arch_paths.sh --build-only makes them)"
fi

[ "$status" = 0 ] && echo "gpu_checks: every check passed" || echo "gpu_checks: a check failed (see the logs above)" >&2
exit $status
