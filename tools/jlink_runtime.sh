#!/usr/bin/env bash
# Builds a small Java 17 runtime for dinoseg with jlink and packs it as a .tar.xz, to carry to a machine
# that has no JDK (unpack there with: tar -xJf FILE, which recreates the runtime's folder).
#
#   tools/jlink_runtime.sh [--modules M1,M2,...] [--output DIR] [--pack FILE.tar.xz | --no-pack]
#
# Defaults: the whole CLI's modules, output .jre/, packed as target/jre.tar.xz. tools/gpu_kit.sh calls it
# with the fewer modules the CUDA tests and `bench` need. Default modules:
#   java.base; java.desktop (ImageIO and the AWT image classes of the data/overlay code); java.logging
#   (JCuda's and JUnit's loggers); java.management and jdk.management (peak-heap figures of bench,
#   the CPU GEMM's FMA probe, the CLI's relaunch); java.xml (JUnit's XML reports); java.sql (Gson's
#   optional java.sql type adapters); jdk.unsupported (sun.misc.Unsafe, which some libraries probe);
#   jdk.incubator.vector (the CPU backend's Vector API GEMM kernel; the CLI relaunches itself with it).
#   (`jdeps --print-module-deps` on target/classes and the jars lists these.)
# The JVM library is stripped of its symbol table (`strip --strip-unneeded`, when strip is there):
# about 4 MB less; only crash reports (hs_err) lose function names.
# Needs jlink: Debian's openjdk-17-jdk-headless has it (or set JLINK, or JAVA_HOME to a JDK 17).
set -euo pipefail
cd "$(dirname "$0")/.."
modules="java.base,java.desktop,java.logging,java.management,jdk.management,java.xml,java.sql,jdk.unsupported,jdk.incubator.vector"
output=.jre
pack=target/jre.tar.xz
while [ $# -gt 0 ]; do
  case "$1" in
    --modules) modules="${2:?--modules needs a comma-separated list}"; shift 2 ;;
    --output) output="${2:?--output needs a folder}"; shift 2 ;;
    --pack) pack="${2:?--pack needs a file name}"; shift 2 ;;
    --no-pack) pack=""; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "jlink_runtime.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
JLINK="${JLINK:-}"
if [ -z "$JLINK" ] && [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/jlink" ]; then JLINK="$JAVA_HOME/bin/jlink"; fi
if [ -z "$JLINK" ]; then JLINK="$(command -v jlink || true)"; fi
if [ -z "$JLINK" ] || [ ! -x "$JLINK" ]; then
  echo "jlink_runtime.sh: jlink not found: install a JDK 17 (apt-get install -y openjdk-17-jdk-headless) or set JAVA_HOME" >&2
  exit 1
fi
release="$("$JLINK" --version 2>/dev/null || true)"
case "$release" in
  17*) ;;
  *) echo "jlink_runtime.sh: $JLINK is version '$release', not 17: set JLINK or JAVA_HOME to a JDK 17" >&2; exit 1 ;;
esac
rm -rf "$output"
mkdir -p "$(dirname "$output")"
# jlink prints "WARNING: Using incubator modules" when the vector module is linked in: expected
"$JLINK" --add-modules "$modules" --strip-debug --no-man-pages --no-header-files --compress=2 --output "$output" 2>&1 \
  | { grep -v '^WARNING: Using incubator modules' || true; }
if command -v strip >/dev/null 2>&1; then strip --strip-unneeded "$output/lib/server/libjvm.so"; fi
"$output/bin/java" -version 2>&1 | head -1
echo "runtime: $output ($(du -sh "$output" | cut -f1)), modules: $modules"
if [ -n "$pack" ]; then
  mkdir -p "$(dirname "$pack")"
  tmp="$pack.tmp.$$"
  # xz -9: a third smaller than gzip; unpacking takes ~1 s
  tar -C "$(dirname "$output")" -cf - "$(basename "$output")" | xz -9 -T0 > "$tmp"
  mv "$tmp" "$pack"
  echo "packed: $pack ($(du -h "$pack" | cut -f1))"
fi
