#!/usr/bin/env bash
# GEMM throughput of the pure-Java CPU backend next to numpy + OpenBLAS sgemm, in one run:
# first on every core, then single-threaded on one pinned core (taskset -c 1; the JVM's pool then has
# one thread, OpenBLAS gets OPENBLAS_NUM_THREADS=1).
#   tools/bench_gemm.sh [repeats] [name-filter]
# The JVM runs with --add-modules jdk.incubator.vector (the Vector API GEMM kernel); its first line
# names the kernel that ran. BENCH_SCALAR=1 benchmarks the scalar fallback kernel instead.
set -euo pipefail
cd "$(dirname "$0")/.."
REPEATS="${1:-5}"
FILTER="${2:-}"
THREADS="$(nproc)"
mvn -B -q -o compile
JAVA_OPTS=(--add-modules jdk.incubator.vector)
[ -n "${BENCH_SCALAR:-}" ] && JAVA_OPTS+=(-Ddinoseg.gemm.scalar=true)

numpy_bench() {
  /usr/bin/python3 - "$REPEATS" "$FILTER" <<'PY'
import sys, time
import numpy as np
reps, only = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
def bench(name, m, n, k, trans_b, trans_a=False):
    what = 'gemm ' + name + f' {m}x{n}x{k}'
    if only not in what: return
    a = rng.standard_normal((k, m) if trans_a else (m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if trans_b else (k, n), dtype=np.float32)
    best = float("inf")
    for _ in range(reps + 1):
        t = time.perf_counter()
        _ = (a.T if trans_a else a) @ (b.T if trans_b else b)
        best = min(best, time.perf_counter() - t)
    print(f"{what:34s} {2.0*m*n*k/best/1e9:8.1f} GFLOP/s  ({best:.3f} s)")
bench("NN", 2048, 2048, 2048, False)
bench("qkv  x·Wᵀ", 2117, 1152, 384, True)
bench("fc1  x·Wᵀ", 2117, 1536, 384, True)
bench("fc2  x·Wᵀ", 2117, 384, 1536, True)
bench("dWfc1 gᵀ·x", 1536, 384, 2117, False, True)
PY
}

echo "== load: $(uptime)"
echo "== dinoseg CPU backend (java, ${THREADS} threads)"
java "${JAVA_OPTS[@]}" -cp target/classes dinoseg.bench.GemmBench "$REPEATS" "$FILTER" 2>&1 | grep -v '^WARNING: Using incubator modules'
echo "== numpy + OpenBLAS (OPENBLAS_NUM_THREADS=${THREADS})"
OPENBLAS_NUM_THREADS="$THREADS" numpy_bench
echo "== dinoseg CPU backend (java, 1 thread, taskset -c 1)"
taskset -c 1 java "${JAVA_OPTS[@]}" -XX:ActiveProcessorCount=1 -cp target/classes dinoseg.bench.GemmBench "$REPEATS" "${FILTER:-gemm}" 2>&1 | grep -v '^WARNING: Using incubator modules'
echo "== numpy + OpenBLAS (OPENBLAS_NUM_THREADS=1, taskset -c 1)"
OPENBLAS_NUM_THREADS=1 taskset -c 1 bash -c "$(declare -f numpy_bench); REPEATS=$REPEATS FILTER='$FILTER' numpy_bench"
echo "== load: $(uptime)"
