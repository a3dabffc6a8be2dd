#!/usr/bin/env bash
# Checks every kernel of kernels/*.cu on the CPU: compiles them with g++ against the emulator in
# emu.h (no GPU or nvcc needed) together with check_kernels.cpp's reference loops, and runs it.
# Usage: bash kernels/test/run.sh   (needs g++ 12+ for C++20 <barrier>)
set -euo pipefail
# Exit status 3 (and a notice) when no suitable g++ is installed, so callers can skip.
if ! command -v g++ >/dev/null 2>&1 || ! echo '#include <barrier>' | g++ -std=c++20 -x c++ -fsyntax-only - >/dev/null 2>&1; then
  echo "[kernel-check] g++ with C++20 <barrier> not found: kernel emulation skipped"
  exit 3
fi
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
bash "$here/prepare.sh" "$tmp"
g++ -std=c++20 -O2 -pthread -Wno-unknown-pragmas -I"$tmp" -I"$here" -x c++ "$here/check_kernels.cpp" -o "$tmp/check_kernels"
"$tmp/check_kernels"
