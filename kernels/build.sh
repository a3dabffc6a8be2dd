#!/usr/bin/env bash
# Compiles kernels/*.cu into ONE fatbin: SASS for sm_80, sm_86, sm_89, sm_90 and PTX (compute_90) that
# newer GPUs JIT-compile. Output: $1/dinoseg.fatbin (default target/classes/kernels) and kernels.txt,
# the list of extern "C" kernels. Run by Maven in generate-resources; by hand: bash kernels/build.sh
# Without nvcc it prints a notice and succeeds: the jar is then CPU-only.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/../target/classes/kernels}"
NVCC="${NVCC:-nvcc}"
if ! command -v "$NVCC" >/dev/null 2>&1; then
  echo "[kernels] nvcc not found: building a CPU-only jar (no CUDA kernels; --device cuda will be unavailable)"
  exit 0
fi
mkdir -p "$out"
fatbin="$out/dinoseg.fatbin"
if [ -f "$fatbin" ] && [ -f "$out/kernels.txt" ] && [ -f "$out/nvcc.txt" ] && [ -z "$(find "$here" -maxdepth 1 -newer "$fatbin" \( -name '*.cu' -o -name '*.cuh' -o -name build.sh \) | head -1)" ]; then
  echo "[kernels] dinoseg.fatbin is up to date"
  exit 0
fi
# One translation unit including every family, so each per-architecture cubin holds all kernels
# (cuModuleLoadData picks one cubin per GPU). --threads 0 compiles the architectures in parallel;
# --no-compress keeps the fatbin loadable by older drivers and its kernel names greppable.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for f in "$here"/*.cu; do echo "#include \"$f\""; done > "$tmp/all_kernels.cu"
start=$(date +%s)
"$NVCC" -fatbin -O3 -std=c++17 --threads 0 --no-compress \
  -gencode arch=compute_80,code=sm_80 \
  -gencode arch=compute_86,code=sm_86 \
  -gencode arch=compute_89,code=sm_89 \
  -gencode arch=compute_90,code=sm_90 \
  -gencode arch=compute_90,code=compute_90 \
  -o "$tmp/dinoseg.fatbin" "$tmp/all_kernels.cu"
grep -ho 'extern "C" __global__ void [A-Za-z0-9_]*' "$here"/*.cu | awk '{print $5}' | sort > "$out/kernels.txt"
# the release (e.g. "13.0") tells the backend which minimum driver the fatbin needs, for its error messages
"$NVCC" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p' > "$out/nvcc.txt"
mv "$tmp/dinoseg.fatbin" "$fatbin"
echo "[kernels] $(wc -l < "$out/kernels.txt") kernels -> $fatbin ($(stat -c %s "$fatbin") bytes, $(( $(date +%s) - start ))s)"
