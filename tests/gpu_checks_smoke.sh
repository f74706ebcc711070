#!/usr/bin/env bash
# scripts/gpu_checks.sh without a GPU (exit 3, nothing written) and, with
# stand-ins for btcbench, the GPU test binaries and compute-sanitizer, its
# logic: where each log goes, the summary lines, and that one failing check
# fails the whole (exit 1).
set -u
bin=$1
root=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() {  # check <description> <condition...>
  local what=$1
  shift
  if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fail=1; fi
}
script="$root/scripts/gpu_checks.sh"

# The real build on this machine.
if ! "$bin" info >/dev/null 2>&1; then
  out=$(BUILD_DIR=$(dirname "$bin") LOG_DIR="$tmp/real-logs" "$script" 2>&1)
  rc=$?
  check "no GPU: exit 3 ($rc)" test "$rc" = 3
  check "no GPU: says so" grep -q "gpu_checks: no GPU here" <<<"$out"
  check "no GPU: no logs" test ! -e "$tmp/real-logs"
fi
out=$(BUILD_DIR="$tmp/nothing" "$script" 2>&1)
check "no build: exit 1 ($?)" test $? = 1
check "no build: says so" grep -q "btcbench missing (build first" <<<"$out"

# Stand-ins: a GPU that answers, tests that pass (or fail when told), a sanitizer that runs its command.
fake="$tmp/build"
mkdir -p "$fake/formats"
cat >"$fake/btcbench" <<'STUB'
#!/usr/bin/env bash
echo '{"name": "Fake GPU", "slug": "fake-gpu", "code_target": "sm_90a code", "git_commit": "abcdef0123456789"}'
STUB
cat >"$fake/btc_gpu_tests" <<'STUB'
#!/usr/bin/env bash
echo "args: $* small=${BTC_TEST_SMALL:-}"
if [ -n "${FAKE_FAIL:-}" ]; then echo "[  FAILED  ] 1 test, listed below:"; exit 1; fi
echo "[  PASSED  ] 12 tests."
STUB
cp "$fake/btc_gpu_tests" "$fake/formats/btc_formats_gpu_tests"
cat >"$tmp/sanitizer" <<'STUB'
#!/usr/bin/env bash
# compute-sanitizer [options] program [args]: the program is the first argument that is a file.
echo "sanitizer: $*"
while [ $# -gt 0 ] && [ ! -f "$1" ]; do shift; done
"$@"
rc=$?
echo "========= ERROR SUMMARY: 0 errors"
exit $rc
STUB
chmod +x "$fake/btcbench" "$fake/btc_gpu_tests" "$fake/formats/btc_formats_gpu_tests" "$tmp/sanitizer"
run_fake() {
  BUILD_DIR="$fake" LOG_DIR="$tmp/logs" COMPUTE_SANITIZER="$tmp/sanitizer" ARCH_BUILD_PREFIX="$tmp/no-arch" "$script" 2>&1
}
out=$(run_fake)
rc=$?
check "all pass: exit 0 ($rc)" test "$rc" = 0
for name in gpu-tests formats-gpu-tests memcheck-designs racecheck-designs; do
  check "log $name-abcdef0.log written" test -s "$tmp/logs/$name-abcdef0.log"
  check "summary line for $name" grep -qE "^ok +$name +rc=0 +$tmp/logs/$name-abcdef0.log +\[  PASSED  \] 12 tests" <<<"$out"
done
check "sanitizers run the small sizes of every BMM design" \
  grep -q "args: --gtest_filter=AllDesigns/BmmGpu.\*:AllDesigns/BmmGpuCoverage.\*:AllDesigns/BconvGpu.\*:AllDesigns/BconvGpuCoverage.\* small=1" "$tmp/logs/memcheck-designs-abcdef0.log"
check "racecheck is racecheck" grep -q "sanitizer: --tool racecheck --error-exitcode 1" "$tmp/logs/racecheck-designs-abcdef0.log"
check "arch paths skipped without build-arch folders" grep -q "^skip   arch-paths" <<<"$out"

out=$(FAKE_FAIL=1 run_fake)
rc=$?
check "a failing check: exit 1 ($rc)" test "$rc" = 1
check "a failing check: its line says FAILED" grep -qE "^FAILED +gpu-tests +rc=1 .*\[  FAILED  \] 1 test" <<<"$out"

rm "$tmp/sanitizer"
out=$(run_fake)
rc=$?
check "no sanitizer: exit 1 ($rc)" test "$rc" = 1
check "no sanitizer: says so" grep -q "compute-sanitizer not found" <<<"$out"
exit $fail
