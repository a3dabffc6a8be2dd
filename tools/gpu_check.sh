#!/usr/bin/env bash
# On a GPU machine: the CUDA tests (with -Ddinoseg.cuda.require=true), compute-sanitizer, `bench --device cuda`
# and the PyTorch peer, through the GPU kit's entry script (tools/gpu_kit_run.sh, which tools/gpu_kit.sh copies
# to .device/kit/run.sh). Builds the kit first when it is missing and a JDK 17 + Maven are here; a GPU machine
# without Java needs the kit built elsewhere and carried (see tools/README.md).
#   tools/gpu_check.sh [OUT]      results in OUT (default target/gpu-check); exit status: run.sh's
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f .device/kit/run.sh ]; then
  if command -v mvn >/dev/null 2>&1 && command -v jlink >/dev/null 2>&1; then
    bash tools/gpu_kit.sh
  else
    echo "[gpu_check] no .device/kit/run.sh and no JDK/Maven here to build it: run tools/gpu_kit.sh on a build machine and carry .device/kit" >&2
    exit 2
  fi
fi
OUT="${1:-${OUT:-target/gpu-check}}" exec bash .device/kit/run.sh
