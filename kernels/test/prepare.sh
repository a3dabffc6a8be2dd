#!/usr/bin/env bash
# Prepares kernels/*.cu for the CPU emulator (emu.h): copies them into OUT with the source rewrites the
# emulator needs, and writes the generated files both emulated builds include:
#   OUT/all_kernels_emu.cu   every family, rewritten, as one translation unit
#   OUT/kernel_names.inc     EMU_KERNEL(name) for every extern "C" __global__ kernel, from the sources
# Rewrites (each keeps the line count, so emulator messages name the original file:line):
#   extern __shared__ T name[];   ->  T* name = emu_dyn_shared<T>();        (the block's dynamic buffer)
#   __shared__ T name[A][B];      ->  EMU_SHARED(T, name, [A][B]);          (per-block arena, poisoned)
#   __align__(N)                  ->  removed (the arena and the dynamic buffer are 16-byte aligned)
# Used by kernels/test/run.sh (the kernel checks) and kernels/test/driver/build.sh (the emulated driver).
# Usage: bash kernels/test/prepare.sh OUT [SRC]   (SRC: the kernel sources, default kernels/)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="${2:-$here/..}"
out="${1:?usage: prepare.sh OUT [SRC]}"
mkdir -p "$out"
ident='[A-Za-z_][A-Za-z0-9_]*'
type='[A-Za-z_][A-Za-z0-9_ ]*[A-Za-z0-9_]'
rewrite() {
  sed -e 's/__align__([0-9]*) //' \
      -e "s/extern __shared__ \($type\) \($ident\)\[\];/\1* \2 = emu_dyn_shared<\1>();/" \
      -e "s/__shared__ \($type\) \($ident\)\(\(\[[^];]*\]\)*\);/EMU_SHARED(\1, \2, \3);/" "$1"
}
for f in "$src"/*.cuh "$src"/*.cu; do
  [ -e "$f" ] || continue
  rewrite "$f" > "$out/$(basename "$f")"
done
if grep -n '__shared__' "$out"/*.cu "$out"/*.cuh | grep -v ':[0-9]*: *//'; then
  echo "prepare.sh: the __shared__ declaration(s) above are not in a form the emulator understands" >&2
  exit 1
fi
for f in "$src"/*.cu; do echo "#include \"$(basename "$f")\""; done > "$out/all_kernels_emu.cu"
grep -ho 'extern "C" __global__ void [A-Za-z0-9_]*' "$src"/*.cu | awk '{print "EMU_KERNEL(" $5 ")"}' | sort > "$out/kernel_names.inc"
