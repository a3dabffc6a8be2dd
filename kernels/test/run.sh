#!/usr/bin/env bash
# Checks every kernel of kernels/*.cu on the CPU: compiles them with g++ against the emulator in
# emu.h (no GPU or nvcc needed) together with check_kernels.cpp's reference loops, and runs it.
# Usage: bash kernels/test/run.sh [family ...]   (needs g++ 12+ for C++20; families: see check_kernels.cpp)
# Environment: DSEMU_KERNELS_DIR  check these kernel sources instead of kernels/ (e.g. a mutated copy)
#              DSEMU_SEED, DSEMU_WORKERS, DSEMU_LAUNCH_TIMEOUT  (see emu.h)
# Exit status: 0 all checks passed; 1 a check failed; 3 no suitable g++ (skipped); 124 a launch
# did not finish (watchdog); anything else: the build or the run broke.
set -euo pipefail
# Exit status 3 (and a notice) when no suitable g++ is installed, so callers can skip.
if ! command -v g++ >/dev/null 2>&1 || ! echo '#include <barrier>' | g++ -std=c++20 -x c++ -fsyntax-only - >/dev/null 2>&1; then
  echo "[kernel-check] g++ with C++20 not found: kernel emulation skipped"
  exit 3
fi
here="$(cd "$(dirname "$0")" && pwd)"
src="${DSEMU_KERNELS_DIR:-$here/..}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
bash "$here/prepare.sh" "$tmp" "$src"
source "$here/flags.sh"
g++ "${EMU_CXXFLAGS[@]}" -I"$tmp" -I"$here" -x c++ "$here/check_kernels.cpp" -o "$tmp/check_kernels"
rc=0
"$tmp/check_kernels" "$@" || rc=$?
# 3 means "skipped" to callers; a check program never exits 3 on its own, but keep it unambiguous.
[ "$rc" = 3 ] && rc=1
exit "$rc"
