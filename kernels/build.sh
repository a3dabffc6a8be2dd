#!/usr/bin/env bash
# Compiles kernels/*.cu into ONE fatbin (SASS for sm_80/86/89/90, PTX compute_90 for newer GPUs) at
# $1/dinoseg.fatbin (default target/classes/kernels), plus kernels.txt listing the extern "C" kernels.
# Without nvcc it prints a notice and succeeds: the jar is then CPU-only.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/../target/classes/kernels}"
NVCC="${NVCC:-nvcc}"
if ! command -v "$NVCC" >/dev/null 2>&1; then
  echo "[kernels] nvcc not found: building a CPU-only jar (no CUDA kernels)"
  exit 0
fi
mkdir -p "$out"
# One translation unit including every family, so each per-architecture cubin holds all kernels.
unit="$out/all_kernels.cu"
{ for f in "$here"/*.cu; do echo "#include \"$f\""; done; } > "$unit"
stamp="$out/dinoseg.fatbin"
if [ -f "$stamp" ] && [ -z "$(find "$here" -name '*.cu*' -newer "$stamp" -o -name '*.cuh' -newer "$stamp" -o -name build.sh -newer "$stamp" | head -1)" ]; then
  echo "[kernels] dinoseg.fatbin is up to date"
  exit 0
fi
start=$(date +%s)
"$NVCC" -fatbin -O3 -std=c++17 --threads 0 --no-compress \
  -gencode arch=compute_80,code=sm_80 \
  -gencode arch=compute_86,code=sm_86 \
  -gencode arch=compute_89,code=sm_89 \
  -gencode arch=compute_90,code=sm_90 \
  -gencode arch=compute_90,code=compute_90 \
  -o "$stamp.tmp" "$unit"
mv "$stamp.tmp" "$stamp"
rm -f "$unit"
grep -ho 'extern "C" __global__ void [A-Za-z0-9_]*' "$here"/*.cu | awk '{print $5}' | sort > "$out/kernels.txt"
echo "[kernels] $(wc -l < "$out/kernels.txt") kernels -> $stamp ($(stat -c %s "$stamp") bytes, $(( $(date +%s) - start ))s)"
