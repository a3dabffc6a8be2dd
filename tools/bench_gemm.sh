#!/usr/bin/env bash
# GEMM throughput of the pure-Java CPU backend next to numpy + OpenBLAS sgemm, in one run.
#   tools/bench_gemm.sh [repeats]
# OPENBLAS_NUM_THREADS is set to the core count the JVM sees (2 on the build machine).
set -euo pipefail
cd "$(dirname "$0")/.."
REPEATS="${1:-5}"
THREADS="$(nproc)"
mvn -B -q -o compile
echo "== dinoseg CPU backend (java, ${THREADS} threads)"
java -cp target/classes dinoseg.backend.cpu.GemmBench "$REPEATS"
echo "== numpy + OpenBLAS (OPENBLAS_NUM_THREADS=${THREADS})"
OPENBLAS_NUM_THREADS="$THREADS" /usr/bin/python3 - "$REPEATS" <<'PY'
import sys, time
import numpy as np
reps = int(sys.argv[1])
rng = np.random.default_rng(0)
def bench(name, m, n, k, trans_b, trans_a=False):
    a = rng.standard_normal((k, m) if trans_a else (m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if trans_b else (k, n), dtype=np.float32)
    best = float("inf")
    for _ in range(reps + 1):
        t = time.perf_counter()
        _ = (a.T if trans_a else a) @ (b.T if trans_b else b)
        best = min(best, time.perf_counter() - t)
    print(f"{'gemm ' + name + f' {m}x{n}x{k}':34s} {2.0*m*n*k/best/1e9:8.1f} GFLOP/s  ({best:.3f} s)")
bench("NN", 2048, 2048, 2048, False)
bench("qkv  x·Wᵀ", 2117, 1152, 384, True)
bench("fc1  x·Wᵀ", 2117, 1536, 384, True)
bench("fc2  x·Wᵀ", 2117, 384, 1536, True)
bench("dWfc1 gᵀ·x", 1536, 384, 2117, False, True)
PY
