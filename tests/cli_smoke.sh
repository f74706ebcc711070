#!/usr/bin/env bash
# The real btcbench binary on bad input, and on whatever machine runs the
# tests: errors are clear, exit codes documented, nothing is written.
set -u
bin=$1
root=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
expect() {  # expect <exit code> <text in output> <args...>
  local want_rc=$1 want_text=$2
  shift 2
  local out rc
  out=$("$bin" "$@" 2>&1)
  rc=$?
  if [ "$rc" != "$want_rc" ] || ! grep -qF -- "$want_text" <<<"$out"; then
    echo "FAIL: btcbench $* -> rc $rc (want $want_rc), output:"
    echo "$out" | head -5
    fail=1
  else
    echo "ok: btcbench $*"
  fi
}
expect 0 "usage: btcbench" --help
expect 2 "no command given"
expect 2 "unknown command 'frobnicate'" frobnicate
expect 2 "unknown flag '--bogus'" sweep instr --bogus
expect 2 "unknown suite 'nope'" sweep nope
expect 2 "--repetitions takes a whole number" sweep instr --repetitions many
expect 2 "contradict" sweep instr --no-counters --metrics sm__cycles_elapsed.max
# btcbench run: bad models, weights and images are clear errors; --cpu needs no GPU.
expect 2 "run needs exactly one model" run
expect 2 "--cpu and --check contradict" run tiny-resnet --cpu --check --models "$root/models"
expect 1 "no model file" run no-such-model --cpu --models "$root/models"
printf 'model x\ninput 3 8 8\nc1 stem input 30 3 1 1\n' >"$tmp/bad.model"
expect 1 "bad.model:3:" run "$tmp/bad.model" --cpu
expect 1 "not a safetensors file" run tiny-resnet --cpu --models "$root/models" --weights "$tmp/bad.model"
printf 'nope' >"$tmp/x.npy"
expect 1 "not a .npy file" run tiny-resnet --cpu --models "$root/models" --input "$tmp/x.npy"
expect 0 "top-5" run tiny-resnet --cpu --models "$root/models"
expect 0 "top-5" run tiny-resnet --cpu --models "$root/models" --weights "$root/tests/fixtures/net/tiny-resnet-torch.safetensors"
if ! "$bin" info >/dev/null 2>&1; then
  expect 3 "--cpu runs the CPU reference" run tiny-resnet --models "$root/models"
fi
printf '{"context": {}, "benchmarks": [' >"$tmp/corrupt.json"
expect 1 "is not valid JSON" validate "$tmp/corrupt.json"
printf '{"context": {}, "benchmarks": []}' >"$tmp/plain.json"
expect 1 "not a btcbench results file" validate "$tmp/plain.json"
expect 1 "is a directory, not a results file" validate "$tmp"
: >"$tmp/empty.json"
expect 1 "is empty (0 bytes), not a results file" validate "$tmp/empty.json"
expect 1 "cannot read" validate "$tmp/no-such-file.json"
expect 1 "'real_time' is negative" validate "$root/tests/fixtures/validate/negative-real-time.json"
# The output path is checked before the GPU and before any benchmark: exit 1
# on any machine. Usage errors still come first (exit 2). A folder under a
# regular file cannot be created, for root too.
printf 'x' >"$tmp/plain"
expect 1 "cannot create the output folder '$tmp/plain/out'" sweep instr --out "$tmp/plain/out"
expect 1 "nothing ran" sweep bmm --quick --out "$tmp/plain/out"
expect 2 "unknown flag '--bogus'" sweep instr --out "$tmp/plain/out" --bogus
# compare: 0 no significant regression, 1 a regression, 2 usage or incompatible files.
cmp="$root/tests/fixtures/compare"
expect 0 "2 compared, 0 significant regression(s)" compare "$cmp/a.json" "$cmp/b-same.json"
expect 1 "REGRESSION" compare "$cmp/a.json" "$cmp/b-lat-slower.json"
expect 1 "1 significant regression(s) beyond 5%" compare "$cmp/a.json" "$cmp/b-tput-slower.json"
expect 0 "0 significant regression(s) beyond 5%" compare "$cmp/a.json" "$cmp/b-tput-3pct.json"
expect 1 "beyond 2%" compare "$cmp/a.json" "$cmp/b-tput-3pct.json" --threshold 2
expect 0 "1 left out by --filter" compare "$cmp/a.json" "$cmp/b-lat-slower.json" --filter '^tput/'
expect 0 "warning: the devices differ" compare "$cmp/a.json" "$cmp/b-other-device.json"
expect 2 "different suites" compare "$cmp/a.json" "$cmp/b-other-suite.json"
expect 2 "is not valid JSON" compare "$cmp/a.json" "$tmp/corrupt.json"
expect 2 "compare needs exactly two files" compare "$cmp/a.json"
for f in "$root"/results/*/*.json; do
  [ -e "$f" ] && expect 0 "ok: " validate "$f"
done
# Without a GPU: a clear notice, exit 3, and no results file.
if ! "$bin" info >/dev/null 2>&1; then
  expect 3 "no CUDA GPU" info
  expect 3 "no CUDA GPU" sweep instr --out "$tmp/out"
  expect 3 "no CUDA GPU" sweep bconv --quick --out "$tmp/out"
  if [ -n "$(ls -A "$tmp/out" 2>/dev/null)" ]; then echo "FAIL: sweep without a GPU wrote files"; fail=1; fi
fi
exit $fail
