#!/usr/bin/env bash
# GEMM throughput of the pure-Java CPU backend next to numpy + OpenBLAS sgemm on the same shapes
# (dinoseg.bench.GemmBench's cases: 2048³ and every GEMM of a ViT-S/14 block at 224/644 pixels,
# batch 1/4, forward NT, input-gradient NN, weight-gradient TN), in one run. Prints a table in GFLOP/s:
#   fresh  each case alone in a new JVM (warmed by itself, then timed; best run), then numpy on it
#   mixed  (BENCH_MIXED=1) all cases in one JVM after a warmup that ran every case once (the JIT
#          profile of a training step)
#   blas   numpy @ on the same shapes (transposes as views, so sgemm gets the flags; no copies), same timing rule
#   ratio  fresh / blas and mixed / blas
#   cpu:   GFLOP per CPU-second of each process (java, blas, ratio): robust to other programs' load,
#          but OpenBLAS threads spin while they wait, which counts against it
#   tools/bench_gemm.sh [name-filter]        e.g. tools/bench_gemm.sh "644 b1"
# Environment: BENCH_MS time budget per case for warming and for timing (default 300 ms);
# BENCH_THREADS=1 pins everything to core 1 (one pool thread, OPENBLAS_NUM_THREADS=1), default all
# cores; BENCH_SCALAR=1 benchmarks the scalar fallback kernel; BENCH_MIXED=1 adds the mixed column;
# BENCH_CP replaces the classpath (default target/classes, compiled first); BENCH_BASE_CP adds a
# column "base" (and its ratio to blas): the same cases on another build's classpath, run right
# after each fresh case (e.g. a GemmBench compiled against an older jar, to measure a change).
# The JVM runs with --add-modules jdk.incubator.vector; the table header names the kernel that ran.
set -euo pipefail
cd "$(dirname "$0")/.."
FILTER="${1:-}"
MS="${BENCH_MS:-300}"
THREADS="${BENCH_THREADS:-$(nproc)}"
if [ -z "${BENCH_CP:-}" ]; then mvn -B -q -o compile; CP=target/classes; else CP="$BENCH_CP"; fi
JAVA=(java --add-modules jdk.incubator.vector -cp "$CP")
[ -n "${BENCH_SCALAR:-}" ] && JAVA+=(-Ddinoseg.gemm.scalar=true)
PIN=()
if [ "$THREADS" = 1 ]; then PIN=(taskset -c 1); JAVA+=(-XX:ActiveProcessorCount=1); fi
BASE=("${JAVA[@]}")
[ -n "${BENCH_BASE_CP:-}" ] && BASE[4]="$BENCH_BASE_CP"   # same options, the baseline's classpath
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
quiet() { grep -v '^WARNING: Using incubator modules' || true; }

echo "== load at start: $(uptime)"
"${JAVA[@]}" dinoseg.bench.GemmBench --list "$FILTER" 2>&1 | quiet | grep -v '^attention' > "$TMP/cases.tsv"

cat > "$TMP/blas.py" <<'PY'
import sys, time
import numpy as np
rng = np.random.default_rng(0)
budget = int(sys.argv[2]) / 1000
name, ta, tb, m, n, k = sys.argv[1].split("\t")
ta, tb, m, n, k = ta == "true", tb == "true", int(m), int(n), int(k)
a = rng.standard_normal((k, m) if ta else (m, k), dtype=np.float32)
b = rng.standard_normal((n, k) if tb else (k, n), dtype=np.float32)
x, y = (a.T if ta else a), (b.T if tb else b)
c = np.empty((m, n), dtype=np.float32)
t0, runs = time.perf_counter(), 0
while time.perf_counter() - t0 < budget or runs < 3:
    np.matmul(x, y, out=c); runs += 1
best, t0, cpu0, runs = float("inf"), time.perf_counter(), time.process_time(), 0
while time.perf_counter() - t0 < budget or runs < 3:
    t = time.perf_counter(); np.matmul(x, y, out=c); best = min(best, time.perf_counter() - t); runs += 1
flops = 2.0 * m * n * k
print(f"{name}\t{flops / best / 1e9:.1f}\t{best:.6f}\t{flops * runs / (time.process_time() - cpu0) / 1e9:.1f}")
PY

# one case at a time, java then numpy, so that both see the same load from other programs
: > "$TMP/fresh.tsv"; : > "$TMP/blas.tsv"; : > "$TMP/base.tsv"
while IFS= read -r line; do
  name="${line%%$'\t'*}"
  "${PIN[@]}" "${JAVA[@]}" dinoseg.bench.GemmBench --ms "$MS" --exact "$name" < /dev/null 2>&1 | quiet > "$TMP/one.tsv"
  grep '^#' "$TMP/one.tsv" | head -1 > "$TMP/kernel.txt"
  grep -v '^#' "$TMP/one.tsv" >> "$TMP/fresh.tsv"
  if [ -n "${BENCH_BASE_CP:-}" ]; then
    "${PIN[@]}" "${BASE[@]}" dinoseg.bench.GemmBench --ms "$MS" --exact "$name" < /dev/null 2>&1 | quiet | grep -v '^#' >> "$TMP/base.tsv"
  fi
  OPENBLAS_NUM_THREADS="$THREADS" "${PIN[@]}" /usr/bin/python3 "$TMP/blas.py" "$line" "$MS" < /dev/null >> "$TMP/blas.tsv"
done < "$TMP/cases.tsv"

: > "$TMP/mixed.tsv"
if [ -n "${BENCH_MIXED:-}" ]; then
  "${PIN[@]}" "${JAVA[@]}" dinoseg.bench.GemmBench --ms "$MS" --mixed-warmup "$FILTER" 2>&1 | quiet | grep -v -e '^#' -e '^attention' > "$TMP/mixed.tsv"
fi

echo "== $(cat "$TMP/kernel.txt" | sed 's/^# //'); OpenBLAS threads ${THREADS}; ${MS} ms per case to warm and to time; GFLOP/s"
/usr/bin/python3 - "$TMP" <<'PY'
import sys, os
d = sys.argv[1]
def load(f, col=1):
    out = {}
    for line in open(os.path.join(d, f)):
        p = line.rstrip("\n").split("\t")
        if len(p) > col: out[p[0]] = float(p[col])
    return out
fresh, mixed, blas, base = load("fresh.tsv"), load("mixed.tsv"), load("blas.tsv"), load("base.tsv")
fcpu, bcpu = load("fresh.tsv", 3), load("blas.tsv", 3)
names = [l.split("\t")[0] for l in open(os.path.join(d, "cases.tsv"))]
w = max(len(n) for n in names)
cols = (["base", "ratio"] if base else []) + ["fresh", "blas", "ratio"] + (["mixed", "ratio"] if mixed else []) + ["cpu:java", "blas", "ratio"]
print(f"{'case':{w}s} " + " ".join(f"{c:>8s}" for c in cols))
def fmt(v): return f"{v:8.1f}" if v is not None else f"{'-':>8s}"
def rat(v, b): return f"{v / b:8.2f}" if v is not None and b else f"{'-':>8s}"
for n in names:
    f, b = fresh.get(n), blas.get(n)
    row = ([fmt(base.get(n)), rat(base.get(n), b)] if base else []) + [fmt(f), fmt(b), rat(f, b)]
    if mixed: row += [fmt(mixed.get(n)), rat(mixed.get(n), b)]
    row += [fmt(fcpu.get(n)), fmt(bcpu.get(n)), rat(fcpu.get(n), bcpu.get(n))]
    print(f"{n:{w}s} " + " ".join(row))
PY
echo "== load at end: $(uptime)"
