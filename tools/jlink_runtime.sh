#!/usr/bin/env bash
# Builds a small Java 17 runtime for dinoseg into .jre/ and packs it as target/jre.tar.xz, to carry to a
# GPU machine that has no JDK (unpack there with: tar -xJf jre.tar.xz, which recreates .jre/).
# Modules: java.base; java.desktop (ImageIO, AWT image classes used by the data/overlay code);
# java.logging (System.Logger output); jdk.unsupported (sun.misc.Unsafe, used by some libraries);
# java.xml and java.management (JUnit's console launcher, for tools/gpu_check.sh); java.sql and
# java.compiler (referenced by Gson and picocli, per `jdeps --print-module-deps target/dinoseg.jar`).
set -euo pipefail
cd "$(dirname "$0")/.."
JLINK="${JLINK:-$(command -v jlink || true)}"
if [ -z "$JLINK" ]; then
  [ -n "${JAVA_HOME:-}" ] && JLINK="$JAVA_HOME/bin/jlink"
fi
if [ -z "$JLINK" ] || [ ! -x "$JLINK" ]; then
  echo "jlink not found: install a JDK 17 (openjdk-17-jdk-headless) or set JAVA_HOME" >&2
  exit 1
fi
rm -rf .jre
"$JLINK" --add-modules java.base,java.desktop,java.logging,jdk.unsupported,java.xml,java.management,java.sql,java.compiler \
  --strip-debug --no-man-pages --no-header-files --compress=2 --output .jre
mkdir -p target
tar -cJf target/jre.tar.xz .jre
echo "runtime: .jre ($(du -sh .jre | cut -f1)), packed: target/jre.tar.xz ($(du -h target/jre.tar.xz | cut -f1))"
.jre/bin/java -version
