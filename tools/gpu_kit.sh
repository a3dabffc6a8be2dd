#!/usr/bin/env bash
# Builds the GPU kit: ONE folder, .device/kit/ (ignored by git), that a bare H100/H200 machine with no
# Java can run through the `run` tool (`carry: [".device/kit"]`, see tools/README.md):
#
#   run.sh               the entry script (tools/gpu_kit_run.sh): CUDA tests, compute-sanitizer, bench,
#                        torch_peer.py; everything to $OUT
#   jre.tar.xz           a jlink Java 17 runtime with only java.base, java.logging, java.xml,
#                        java.management, jdk.management, jdk.unsupported, jdk.incubator.vector
#                        (tools/jlink_runtime.sh)
#   lib/dinoseg.jar      target/classes, the CUDA kernels' fatbin included
#   lib/dinoseg-cuda-tests.jar   the test classes of dinoseg.backend.cuda (KernelEmulationTest left out)
#   lib/{jcuda,jcublas,picocli,gson}.jar, lib/jcuda-natives.jar (only libJCudaDriver and libJCublas2),
#   lib/junit/ (the Jupiter engine, the console launcher and what they need)
#   torch_peer.py        the PyTorch peer (whole steps); torch_ops.py: the same for single ops
#                        MANIFEST.txt: commit, versions, sizes
#
#   tools/gpu_kit.sh [--dry-run] [--full] [--no-build]
#
# It runs `mvn -B -o -q package -DskipTests` first (--no-build: use target/ as it is; the fatbin needs
# nvcc) and prints `kit: N MiB`, the whole upload: the kit plus the working tree that travels with it
# (tracked and untracked-not-ignored files). Fails when that is over the 64 MiB limit.
# --dry-run then runs the kit's run.sh here, on the CPU, against the emulated CUDA driver
# (target/emu-driver/libcuda.so.1, built here when missing and g++ 12+ is present; EMU_DRIVER_DIR overrides) with
# small settings: bench (infer only, a 2-block backbone) and the peer at 28x28, one timed step; a few
# tests that open the emulated device (--full: all tests, all bench modes, the async rerun too); the peer on the
# CPU when /usr/bin/python3 or python3 has PyTorch; compute-sanitizer only where one is installed.
# Its results land in target/gpu-kit-dry-run/. Without the emulated driver the CUDA tests skip
# (KIT_REQUIRE=false) and bench fails: the dry run says so. The kit never contains a libcuda: a GPU
# machine must use its own driver.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
KIT="${KIT_DIR:-.device/kit}"
DRY=0; FULL=0; BUILD=1
for a in "$@"; do
  case "$a" in
    --dry-run) DRY=1 ;;
    --full) FULL=1 ;;
    --no-build) BUILD=0 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "gpu_kit.sh: unknown argument '$a' (see --help)" >&2; exit 2 ;;
  esac
done
say() { echo "[gpu_kit] $*"; }
die() { echo "[gpu_kit] $*" >&2; exit 1; }
t_start=$(date +%s); t_last=$t_start
lap() { local t; t=$(date +%s); say "$1 ($(( t - t_last )) s)"; t_last=$t; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

# Modules the kit's runtime needs (jdeps on target/classes, the CUDA test classes and the jars below):
# java.logging: JCuda's LibUtils and JUnit's logger; java.xml: the console launcher's XML report;
# java.management + jdk.management: bench's peak-heap figure (MemoryPoolMXBean) and the CPU GEMM's FMA
# probe (HotSpotDiagnosticMXBean); jdk.incubator.vector: the CPU reference side of the tests uses the
# Vector API GEMM (the scalar one is ~10x slower). Not java.desktop: only the image/overlay/video code
# needs it, and neither the CUDA tests nor bench load it (the dry run checks that); not java.sql
# (Gson's optional adapters). jdk.unsupported: sun.misc.Signal, which the CLI's SIGINT/SIGTERM handling
# (cli/Signals) installs before any command runs.
MODULES="java.base,java.logging,java.xml,java.management,jdk.management,jdk.unsupported,jdk.incubator.vector"

if [ "$BUILD" = 1 ]; then
  mvn -B -o -q package -DskipTests
  lap "mvn package -DskipTests"
fi
[ -f target/classes/kernels/dinoseg.fatbin ] || die "target/classes/kernels/dinoseg.fatbin is missing: the kit needs nvcc at build time (see kernels/build.sh)"
[ -d target/test-classes/dinoseg/backend/cuda ] || die "target/test-classes/dinoseg/backend/cuda is missing: run 'mvn -B -o package -DskipTests'"

# --- the jars, from Maven's resolved class path (versions follow pom.xml)
mkdir -p target/gpu-kit
CPFILE=target/gpu-kit/classpath.txt
mvn -B -o -q dependency:build-classpath -Dmdep.outputFile="$CPFILE" -Dmdep.includeScope=test >/dev/null
tr ':' '\n' < "$CPFILE" > target/gpu-kit/classpath.lines
jar_of() {  # ARTIFACT [CLASSIFIER]: the path of that artifact's jar on the class path
  local f
  f="$(grep -E "/$1/[^/]+/$1-[^/]+${2:+-$2}\.jar$" target/gpu-kit/classpath.lines | { if [ -z "${2:-}" ]; then grep -v -E -- '-(linux|windows|macosx)-[a-z0-9_]+\.jar$'; else cat; fi; } | head -1 || true)"
  [ -n "$f" ] && [ -f "$f" ] || die "no $1${2:+ ($2)} jar on Maven's class path"
  echo "$f"
}
declare -A JAR
for a in jcuda jcublas picocli gson junit-jupiter-api junit-jupiter-engine junit-platform-commons junit-platform-engine \
         junit-platform-launcher junit-platform-console junit-platform-reporting opentest4j apiguardian-api; do
  JAR[$a]="$(jar_of $a)"
done
JAR[jcuda-natives]="$(jar_of jcuda-natives linux-x86_64)"
JAR[jcublas-natives]="$(jar_of jcublas-natives linux-x86_64)"

NEW="$KIT.new.$$"
rm -rf "$NEW"; mkdir -p "$NEW/lib/junit"
trap 'rm -rf "$NEW"' EXIT
jar --create --file "$NEW/lib/dinoseg.jar" -C target/classes .
stage="target/gpu-kit/test-stage"
rm -rf "$stage"; mkdir -p "$stage/dinoseg/backend/cuda"
find target/test-classes/dinoseg/backend/cuda -maxdepth 1 -name '*.class' ! -name 'KernelEmulationTest*' -exec cp {} "$stage/dinoseg/backend/cuda/" \;
# the test-run listener (main's CudaTestReport: "[cuda-tests] N CUDA tests ran on ...") when the build has one
svc=META-INF/services/org.junit.platform.launcher.TestExecutionListener
if [ -f "target/test-classes/$svc" ]; then
  mkdir -p "$stage/META-INF/services"
  while read -r cls; do
    cls="${cls%%#*}"; cls="${cls// /}"; [ -z "$cls" ] && continue
    [ -f "$stage/${cls//.//}.class" ] && echo "$cls" >> "$stage/$svc"
  done < "target/test-classes/$svc"
fi
jar --create --file "$NEW/lib/dinoseg-cuda-tests.jar" -C "$stage" .
for a in jcuda jcublas picocli gson; do cp "${JAR[$a]}" "$NEW/lib/$a.jar"; done
# JCuda's natives: the driver API's and cuBLAS's JNI libraries only (the jars also hold NVRTC, the PTX
# compiler, the runtime API and legacy cuBLAS: ~25 MB the backend never loads). JCuda's LibUtils finds
# them as class path resources lib/lib<name>-<version>-linux-x86_64.so.
nat="target/gpu-kit/natives"
rm -rf "$nat"; mkdir -p "$nat"
# (the JDK's jar tool, not unzip: one tool fewer to install)
for pair in "jcuda-natives:libJCudaDriver-" "jcublas-natives:libJCublas2-"; do
  src="${JAR[${pair%%:*}]}"
  names=($(jar tf "$src" | grep -E "^lib/${pair#*:}[0-9].*\.so$"))
  [ ${#names[@]} -eq 1 ] || die "expected one lib/${pair#*:}*.so in $src, found ${#names[@]}"
  (cd "$nat" && jar xf "$src" "${names[@]}")
done
jar --create --file "$NEW/lib/jcuda-natives.jar" -C "$nat" lib
for a in junit-jupiter-api junit-jupiter-engine junit-platform-commons junit-platform-engine junit-platform-launcher \
         junit-platform-console junit-platform-reporting opentest4j apiguardian-api; do
  cp "${JAR[$a]}" "$NEW/lib/junit/"
done
lap "class path assembled"

# --- the Java runtime (cached: jlink + xz take a while on a small machine)
stamp="$MODULES|$(java -version 2>&1 | head -1)|$(sha256sum tools/jlink_runtime.sh | cut -c1-16)"
if [ ! -f target/gpu-kit/jre.tar.xz ] || [ "$(cat target/gpu-kit/jre.stamp 2>/dev/null)" != "$stamp" ]; then
  rm -f target/gpu-kit/jre.stamp
  bash tools/jlink_runtime.sh --modules "$MODULES" --output target/gpu-kit/jre --pack target/gpu-kit/jre.tar.xz
  rm -rf target/gpu-kit/jre
  echo "$stamp" > target/gpu-kit/jre.stamp
  lap "jlink runtime built and packed"
else
  say "jlink runtime: cached target/gpu-kit/jre.tar.xz ($MODULES)"
fi
cp target/gpu-kit/jre.tar.xz "$NEW/jre.tar.xz"
cp tools/gpu_kit_run.sh "$NEW/run.sh"
cp tools/torch_peer.py "$NEW/torch_peer.py"
cp tools/torch_ops.py "$NEW/torch_ops.py"
chmod +x "$NEW/run.sh" "$NEW/torch_peer.py" "$NEW/torch_ops.py"
if [ -n "$(find "$NEW" -name 'libcuda*' | head -1)" ]; then die "the kit holds a libcuda: a GPU machine must use its own driver"; fi
{
  echo "dinoseg $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo '+changes'), built $(date -u +%Y-%m-%dT%H:%MZ), fatbin $(stat -c %s target/classes/kernels/dinoseg.fatbin) bytes (nvcc $(cat target/classes/kernels/nvcc.txt 2>/dev/null || echo '?'))"
  echo "runtime modules: $MODULES ($(java -version 2>&1 | head -1))"
  echo "jars:"
  for a in jcuda jcublas picocli gson junit-jupiter-engine junit-platform-console; do echo "  $(basename "${JAR[$a]}")"; done
  echo "natives: $(cd "$nat/lib" && ls | paste -sd ' ' -)"
  echo "files:"
  (cd "$NEW" && find . -type f ! -name MANIFEST.txt | sort | xargs du -b | awk '{printf "  %9d  %s\n", $1, $2}')
} > "$NEW/MANIFEST.txt"
rm -rf "$KIT"; mkdir -p "$(dirname "$KIT")"; mv "$NEW" "$KIT"
trap - EXIT

# --- what travels: the kit + the working tree (tracked and untracked-not-ignored files; shared/ if present)
kit_b=$(du -sb "$KIT" | cut -f1)
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  tree_b=$(git ls-files -co --exclude-standard -z | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
else  # not a git checkout: everything but the build outputs and .device/
  tree_b=$(du -sb --exclude=./target --exclude=./.device --exclude=./.jre . | cut -f1)
fi
shared_b=0
if [ -d shared ] && git check-ignore -q shared; then shared_b=$(du -sb shared | cut -f1); fi
total_b=$(( kit_b + tree_b + shared_b ))
say "kit contents:"
(cd "$KIT" && du -b jre.tar.xz lib/*.jar run.sh torch_peer.py torch_ops.py MANIFEST.txt && du -cb lib/junit/*.jar | tail -1 | sed 's/total/lib\/junit\//') \
  | awk '{printf "  %7.2f MiB  %s\n", $1 / 1048576, $2}'
say "working tree that travels: $(mib "$tree_b") MiB$([ "$shared_b" -gt 0 ] && echo ", shared/: $(mib "$shared_b") MiB")"
echo "kit: $(mib "$total_b") MiB (kit $(mib "$kit_b") MiB + working tree $(mib $(( tree_b + shared_b ))) MiB; limit 64 MiB)"
[ "$total_b" -le $(( 64 * 1048576 )) ] || die "over the run tool's 64 MiB upload limit"
[ "$total_b" -le $(( 48 * 1048576 )) ] || say "warning: above the 48 MiB target"
lap "kit ready in $KIT"

[ "$DRY" = 1 ] || exit 0

# --- dry run: the kit's run.sh here, on the emulated CUDA driver, small settings
EMU="${EMU_DRIVER_DIR:-target/emu-driver}"
# `package -DskipTests` skips Maven's emulated-driver step: build it here when this checkout has its sources
if [ ! -f "$EMU/libcuda.so.1" ] && [ -z "${EMU_DRIVER_DIR:-}" ] && [ -f kernels/test/driver/build.sh ]; then
  bash kernels/test/driver/build.sh "$EMU" "${JAR[jcuda-natives]}" || say "the emulated driver did not build"
  lap "emulated driver"
fi
OUT="$ROOT/target/gpu-kit-dry-run"
rm -rf "$OUT"; mkdir -p "$OUT"
env_dry=(OUT="$OUT" KIT_BUDGET_S=3600 KIT_BOX_SCALE=6 KIT_IMGSZ=28 KIT_XMX=3g KIT_PEER_DEVICE=cpu)
if [ -f "$EMU/libcuda.so.1" ]; then
  env_dry+=(LD_LIBRARY_PATH="$(cd "$EMU" && pwd)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" KIT_REQUIRE=true)
  say "dry run on the emulated driver $EMU/libcuda.so.1"
else
  env_dry+=(KIT_REQUIRE=false)
  say "no emulated driver ($EMU/libcuda.so.1; built by Maven where g++ 12+ is present): the CUDA tests SKIP and bench fails (no CUDA)"
fi
tiny="$ROOT/target/gpu-kit/tiny_backbone.json"
echo '{"name": "tiny", "embed_dim": 64, "depth": 2, "heads": 4, "registers": 0, "ffn": "mlp"}' > "$tiny"
env_dry+=(KIT_BENCH_ARGS="--backbone $tiny --warmup 0 --iters 1" KIT_PEER_ARGS="--warmup 0 --iters 1")
py=python3
for p in /usr/bin/python3 python3; do if "$p" -c 'import torch' 2>/dev/null; then py=$p; break; fi; done
env_dry+=(PYTHON="$py")
if [ "$FULL" = 0 ]; then
  # the plumbing, not the emulated suite (mvn test runs that): tests that open the emulated device and
  # move data, one bench mode; the peer (cheap on the CPU) in all three
  env_dry+=(KIT_STEPS="tests-blocking memory bench peer ops memcheck racecheck" KIT_BENCH_SETTINGS="infer:1"
    KIT_PEER_SETTINGS="infer:1 linear:2 finetune:2"
    KIT_TEST_SELECT="--select-class dinoseg.backend.cuda.CudaAvailabilityTest --select-class dinoseg.backend.cuda.DimsTest --select-method dinoseg.backend.cuda.CudaOpsTest#nameSaysDeviceAndGemmPath --select-method dinoseg.backend.cuda.CudaOpsTest#uploadsDownloadsAndCopies")
fi
say "dry run: ${env_dry[*]} bash $KIT/run.sh"
set +e
env "${env_dry[@]}" bash "$KIT/run.sh"
rc=$?
set -e
lap "dry run finished with status $rc; results in $OUT"
exit $rc
