#!/usr/bin/env bash
# Installs what btcbench builds and runs with: Debian packages and the pinned
# PyPI packages. Nothing is fetched at configure time. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

# chromium: headless screenshots of the in situ view (python3 -m analysis.insitu_view --screenshot).
debs=(cmake g++ make python3 python3-pip libbenchmark-dev libfmt-dev libgtest-dev libgmock-dev chromium)
missing=()
for p in "${debs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# CUDA 13 is NVIDIA's toolkit, not a Debian package: say so instead of failing later.
nvcc_bin=$(command -v nvcc || true)
[ -n "$nvcc_bin" ] || { [ -x /usr/local/cuda/bin/nvcc ] && nvcc_bin=/usr/local/cuda/bin/nvcc; }
if [ -z "$nvcc_bin" ]; then
  echo "setup: CUDA Toolkit 13 not found (no nvcc on PATH or in /usr/local/cuda/bin)." >&2
  echo "setup: install it from NVIDIA's CUDA repository, then run this again." >&2
  exit 1
fi
if ! "$nvcc_bin" --version | grep -q "release 13\."; then
  echo "setup: warning: btcbench is written for CUDA 13; found: $("$nvcc_bin" --version | tail -1)" >&2
fi

python3 -m pip install -q --disable-pip-version-check -r analysis/requirements.txt
echo "setup: ok"
