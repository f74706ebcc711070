#!/usr/bin/env bash
# btcbench's CUPTI counters beside Nsight Compute (ncu) on the same kernels
# (issue 14, part 3), for the committed comparison. Runs on a GPU machine with
# ncu, from a built tree; a few minutes on an H200.
#
#   scripts/ncu_compare.sh BUILD_DIR OUT_DIR
#   NCU=PATH               the ncu binary (default: ncu on PATH)
#   NCU_COMPARE_PROBE=0    skip the L2 hit-rate probe runs (about a third of the time)
#
# Per case (an instr form, a BMM design point, a stride point; the variables
# below) and per cache control (all, none):
#   1. btcbench sweep <suite> --filter '^<benchmark>/' --cache-control <mode>:
#      btcbench's counters, the suite's default metrics;
#   2. ncu on the same btcbench command with --no-counters (one profiler at a
#      time), on the launch(es) of the kernel(s) btcbench's counter range
#      covers, with exactly the metrics of step 1 and ncu --cache-control <mode>
#      --clock-control none (btcbench does not lock clocks either); the report
#      (.ncu-rep) and its raw page as CSV (--csv --page raw --print-units base).
# Then the probe: the same two steps with the metrics behind
# lts__t_sector_hit_rate.pct (PROBE_METRICS) on the BMM point and a
# shared-memory stride point, to test why btcbench's hit rates pass 100%
# (docs/profiles/ncu-compare/README.md). Last, python3 -m analysis.ncu_compare
# OUT_DIR writes OUT_DIR/ncu-compare.md and .json.
#
# OUT_DIR (new or empty): ncu_compare.log (every command, its output, the
# versions), environment.txt, manifest.tsv (one row per finished step pair),
# btcbench/<id>/ (results files), ncu/<id>.ncu-rep, ncu/<id>.csv and
# ncu/<id>-app/ (the results file of the run ncu profiled).
#
# Exit: 0 done; 1 a step failed (the message names it; what was written
# stays); 2 usage; 3 no GPU here.
set -uo pipefail

# ---------------------------------------------------------------- the cases
# Benchmark: the run name without /manual_time (btcbench list <suite> prints them).
# Kernels: ncu's --kernel-name regex for every kernel btcbench's counter range
# launches; skip/count: ncu's --launch-skip/--launch-count over the launches
# matching it, chosen so that ncu profiles exactly the launches of one timed
# call (never a calibration launch: a replayed launch times long and would
# change the loop count the calibration picks).

# tput kernels calibrate their loop count first (calibrate_iters: at most 16
# launches), then 2 warm-ups; skip 18 lands on a timed launch. 5 repetitions x
# 5 launches keep one there even after a single calibration launch.
INSTR_BENCH='tput/mma_and_m16n8k256/wps:8/ilp:4'
INSTR_KERNELS='throughput_kernel'
INSTR_SKIP=18
INSTR_COUNT=1
INSTR_ARGS='--quick --repetitions 5'

# The issue's point. Each run() is row_popc_kernel (A's popcounts), then
# mma_and_kernel; prepare() ran row_popc_kernel once for B before. Matching
# launches: B, then (A, main) x 2 warm-ups, then (A, main) per timed launch:
# skip 5, count 2 is the first timed call. Not --quick: its shapes lack m:1024/n:4096.
BMM_BENCH='bmm/mma_and_sm90/m:1024/n:4096/k:4096/out:int32'
BMM_KERNELS='row_popc_kernel|mma_and_kernel'
BMM_SKIP=5
BMM_COUNT=2
BMM_ARGS='--repetitions 1'

# Global loads stream 256 MiB per pass over the matrix, every count grows with
# the calibrated pass count: the analysis scales ncu's run to btcbench's.
STRIDE_BENCH='stride/mma_global/mode:mma/ldm:1024'
STRIDE_KERNELS='stride_global_kernel'
STRIDE_SKIP=18
STRIDE_COUNT=1
STRIDE_ARGS='--quick --repetitions 5'

# Probe only: a shared-memory path moves a few thousand L2 sectors per launch,
# where the committed stride files read hit rates of 68-118%.
SHARED_BENCH='stride/wmma_shared/mode:load/ldm:128'
SHARED_KERNELS='stride_shared_kernel'
SHARED_SKIP=18
SHARED_COUNT=1
SHARED_ARGS='--quick --repetitions 5'

# lts__t_sector_hit_rate.pct is lookup_hit / sectors; CUPTI puts each of these
# three counters in a replay pass of its own (README: the pass map).
PROBE_METRICS='lts__t_sector_hit_rate.pct,lts__t_sectors_lookup_hit.sum,lts__t_sectors_lookup_miss.sum,lts__t_sectors.sum'
CACHE_MODES='all none'

# ---------------------------------------------------------------- arguments
case "${1:-}" in
  -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
esac
if [ $# -ne 2 ]; then
  echo "usage: scripts/ncu_compare.sh BUILD_DIR OUT_DIR (see --help)" >&2
  exit 2
fi
build_arg=$1
out_arg=$2
[ -x "$build_arg/btcbench" ] || { echo "ncu_compare: $build_arg/btcbench missing (build first: scripts/build.sh)" >&2; exit 1; }
if [ -e "$out_arg" ] && { [ ! -d "$out_arg" ] || [ -n "$(ls -A "$out_arg")" ]; }; then
  echo "ncu_compare: $out_arg exists and is not an empty folder: give a new one (runs are not mixed)" >&2
  exit 2
fi
mkdir -p "$out_arg" || { echo "ncu_compare: cannot create $out_arg" >&2; exit 1; }
mkdir -p "$out_arg/ncu" "$out_arg/btcbench" || { echo "ncu_compare: cannot create $out_arg/ncu" >&2; exit 1; }
btcbench=$(cd "$build_arg" && pwd)/btcbench
out=$(cd "$out_arg" && pwd)
cd "$(dirname "$0")/.." || exit 1   # python3 -m analysis... runs from the repo root
log=$out/ncu_compare.log
manifest=$out/manifest.tsv
step_out=$out/.step-output
: >"$log"

say() { echo "ncu_compare: $*"; echo "# $(date -u +%H:%M:%S) $*" >>"$log"; }
fail() {  # fail <message>: the reason, where to look, and that nothing is lost
  echo "ncu_compare: FAILED: $*" >&2
  echo "ncu_compare: see $log; everything written so far stays in $out" >&2
  echo "# FAILED: $*" >>"$log"
  rm -f "$step_out"
  exit 1
}
# The command as one could paste it: words with no special characters bare.
shell_words() {
  local word sep=""
  for word in "$@"; do
    if [[ $word =~ ^[A-Za-z0-9_./:=,+@%^-]+$ ]]; then printf '%s%s' "$sep" "$word"; else printf '%s%q' "$sep" "$word"; fi
    sep=" "
  done
}
# step <command...>: logs the command and its output (also left in $step_out)
step() {
  printf '$ %s\n' "$(shell_words "$@")" >>"$log"
  "$@" >"$step_out" 2>&1
  local rc=$?
  cat "$step_out" >>"$log"
  echo "# exit $rc" >>"$log"
  return $rc
}
json_field() {  # json_field FILE KEY.PATH -> the value (lists joined by ',')
  python3 - "$1" "$2" <<'EOF'
import json, sys
value = json.load(open(sys.argv[1]))
for key in sys.argv[2].split("."):
    value = value[key]
print(",".join(map(str, value)) if isinstance(value, list) else value)
EOF
}
counters_hint="counters need admin rights on most drivers: run as root (or with CAP_SYS_ADMIN), or load the NVIDIA driver with NVreg_RestrictProfilingToAdminUsers=0 ('options nvidia NVreg_RestrictProfilingToAdminUsers=0' in /etc/modprobe.d/, then reload the driver or reboot)"

# ---------------------------------------------------------------- the tools
ncu=${NCU:-$(command -v ncu || true)}
if [ -z "$ncu" ] || [ ! -x "$ncu" ]; then
  fail "ncu not found${NCU:+ at NCU=$NCU}: install Nsight Compute (the CUDA toolkit ships it, e.g. /usr/local/cuda/bin/ncu) and put it on PATH, or set NCU=/path/to/ncu"
fi
step "$btcbench" info --json || {
  echo "ncu_compare: no GPU here ($(head -1 "$step_out")); nothing run" >&2
  rm -f "$step_out"
  exit 3
}
cp "$step_out" "$out/btcbench-info.json"
info=$out/btcbench-info.json
if [ "$(json_field "$info" counters_available)" != True ]; then
  fail "btcbench cannot read counters: $(json_field "$info" counters_reason); $counters_hint"
fi
step "$ncu" --version || fail "'$ncu --version' failed"
ncu_version=$(grep -m1 -i 'version' "$step_out" | sed 's/^[^0-9]*//')
gpu_query=unavailable
if command -v nvidia-smi >/dev/null; then
  step nvidia-smi --query-gpu=name,driver_version,vbios_version,clocks.max.sm --format=csv,noheader -i 0 &&
    gpu_query=$(head -1 "$step_out")
fi
step "$btcbench" --version
btcbench_version=$(head -1 "$step_out")
{
  echo "date_utc: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(hostname 2>/dev/null || uname -n)"
  echo "gpu: $(json_field "$info" name) ($(json_field "$info" chip), $(json_field "$info" code_target))"
  echo "driver: $(json_field "$info" driver_version)"
  echo "nvidia_smi: $gpu_query"
  echo "ncu: $ncu ($ncu_version)"
  echo "btcbench: $btcbench ($btcbench_version)"
  echo "git_commit: $(json_field "$info" git_commit)"
  echo "ncu_options: --cache-control <mode> --clock-control none (kernel replay)"
} >"$out/environment.txt"
cat "$out/environment.txt" >>"$log"
say "$(json_field "$info" name), ncu $ncu_version, $btcbench_version; writing $out"
printf 'kind\tcase\tsuite\tbenchmark\tkernels\tlaunch_skip\tlaunch_count\tcache_control\tbtcbench_json\tncu_csv\tncu_app_json\n' >"$manifest"

# The one results file a sweep wrote under DIR (its <gpu-slug>/ subfolder).
results_file() {
  local files
  files=$(find "$1" -name '*.json' -type f)
  [ "$(printf '%s\n' "$files" | grep -c .)" = 1 ] || return 1
  printf '%s\n' "$files"
}

# ---------------------------------------------------------------- one case
# run_case KIND CASE SUITE BENCHMARK KERNELS SKIP COUNT ARGS [METRICS]
run_case() {
  local kind=$1 label=$2 suite=$3 bench=$4 kernels=$5 skip=$6 count=$7 args=$8 metrics=${9:-}
  local -a extra
  read -ra extra <<<"$args"
  local filter="^$bench/" mode
  for mode in $CACHE_MODES; do
    local id=$kind-$label-$mode
    say "$id: btcbench $bench, its counters (--cache-control $mode)"
    step "$btcbench" sweep "$suite" --filter "$filter" "${extra[@]}" --cache-control "$mode" \
      ${metrics:+--metrics "$metrics"} --out "$out/btcbench/$id" ||
      fail "$id: btcbench sweep exited $? ($(tail -1 "$step_out"))"
    local json
    json=$(results_file "$out/btcbench/$id") || fail "$id: expected one results file under $out/btcbench/$id"
    [ "$(json_field "$json" btcbench.counters.enabled)" = True ] ||
      fail "$id: the sweep ran without counters: $(json_field "$json" btcbench.counters.reason); $counters_hint"
    local list
    list=$(json_field "$json" btcbench.counters.metrics) || fail "$id: $json lists no metrics"

    say "$id: ncu on the same run (kernels '$kernels', skip $skip, count $count)"
    step "$ncu" --kernel-name "regex:$kernels" --launch-skip "$skip" --launch-count "$count" \
      --metrics "$list" --cache-control "$mode" --clock-control none --replay-mode kernel \
      --export "$out/ncu/$id" --force-overwrite \
      "$btcbench" sweep "$suite" --filter "$filter" "${extra[@]}" --no-counters --out "$out/ncu/$id-app"
    local rc=$?
    grep -q 'ERR_NVGPUCTRPERM' "$step_out" &&
      fail "$id: ncu may not read the GPU's performance counters (ERR_NVGPUCTRPERM); $counters_hint"
    grep -qi 'no kernels were profiled' "$step_out" &&
      fail "$id: ncu profiled no launch of '$kernels' after skipping $skip: did the launch order change? (see the case's comment in scripts/ncu_compare.sh)"
    [ "$rc" = 0 ] || fail "$id: ncu exited $rc ($(grep -m1 '==ERROR==' "$step_out" || tail -1 "$step_out"))"
    [ -s "$out/ncu/$id.ncu-rep" ] || fail "$id: ncu wrote no report $out/ncu/$id.ncu-rep"
    local app
    app=$(results_file "$out/ncu/$id-app") || fail "$id: expected one results file under $out/ncu/$id-app"

    printf '$ %s > %s\n' "$ncu --import $out/ncu/$id.ncu-rep --csv --page raw --print-units base" "$out/ncu/$id.csv" >>"$log"
    "$ncu" --import "$out/ncu/$id.ncu-rep" --csv --page raw --print-units base >"$out/ncu/$id.csv" 2>"$step_out"
    rc=$?
    cat "$step_out" >>"$log"
    echo "# exit $rc" >>"$log"
    if [ "$rc" != 0 ] || ! grep -q '"Kernel Name"' "$out/ncu/$id.csv"; then
      fail "$id: ncu --import gave no raw-page CSV (exit $rc): $out/ncu/$id.csv"
    fi

    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$label" "$suite" "$bench" "$kernels" \
      "$skip" "$count" "$mode" "${json#"$out"/}" "ncu/$id.csv" "${app#"$out"/}" >>"$manifest"
  done
}

start_s=$SECONDS
run_case main instr instr "$INSTR_BENCH" "$INSTR_KERNELS" "$INSTR_SKIP" "$INSTR_COUNT" "$INSTR_ARGS"
run_case main bmm bmm "$BMM_BENCH" "$BMM_KERNELS" "$BMM_SKIP" "$BMM_COUNT" "$BMM_ARGS"
run_case main stride stride "$STRIDE_BENCH" "$STRIDE_KERNELS" "$STRIDE_SKIP" "$STRIDE_COUNT" "$STRIDE_ARGS"
if [ "${NCU_COMPARE_PROBE:-1}" != 0 ]; then
  run_case probe bmm bmm "$BMM_BENCH" "$BMM_KERNELS" "$BMM_SKIP" "$BMM_COUNT" "$BMM_ARGS" "$PROBE_METRICS"
  run_case probe stride_shared stride "$SHARED_BENCH" "$SHARED_KERNELS" "$SHARED_SKIP" "$SHARED_COUNT" \
    "$SHARED_ARGS" "$PROBE_METRICS"
fi
rm -f "$step_out"
say "profiling done in $((SECONDS - start_s)) s"

step python3 -m analysis.ncu_compare "$out" || fail "python3 -m analysis.ncu_compare $out: $(tail -1 "$step_out")"
cat "$step_out"
rm -f "$step_out"
say "done: $out/ncu-compare.md, $out/ncu-compare.json"
