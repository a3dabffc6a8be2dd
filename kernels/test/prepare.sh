#!/usr/bin/env bash
# Prepares kernels/*.cu for the CPU emulator (emu.h): copies them into OUT with the source rewrites the
# emulator needs, and writes the generated files both emulated builds include:
#   OUT/all_kernels_emu.cu   every family, rewritten, as one translation unit
#   OUT/kernel_names.inc     EMU_KERNEL(name) for every extern "C" __global__ kernel, from the sources
# Used by kernels/test/run.sh (the kernel checks) and kernels/test/driver/build.sh (the emulated driver).
# Usage: bash kernels/test/prepare.sh OUT
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$here/.."
out="${1:?usage: prepare.sh OUT}"
mkdir -p "$out"
cp "$src/common.cuh" "$out/"
# Dynamic shared memory becomes the emulator's per-block buffer.
for f in "$src"/*.cu; do
  sed 's/extern __shared__ float \([a-z_]*\)\[\];/float* \1 = emu_dynamic_shared.data();/' "$f" > "$out/$(basename "$f")"
  echo "#include \"$(basename "$f")\""
done > "$out/all_kernels_emu.cu"
grep -ho 'extern "C" __global__ void [A-Za-z0-9_]*' "$src"/*.cu | awk '{print "EMU_KERNEL(" $5 ")"}' | sort > "$out/kernel_names.inc"
