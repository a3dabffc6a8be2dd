#!/usr/bin/env bash
# On a GPU machine: runs the CUDA tests (CUDA vs CPU for every op, plus any GPU test added under
# dinoseg.backend.cuda) and then `dinoseg bench --device cuda` when this build has that command.
# Needs what `mvn package` (with nvcc) leaves in target/: dinoseg.jar (with kernels/dinoseg.fatbin),
# test-classes/ and test-lib/ (JUnit console launcher and test dependencies); and a Java 17 runtime:
# $JAVA, else .jre/bin/java (tools/jlink_runtime.sh; unpacked from target/jre.tar.xz if needed), else java.
# The tests run with -Ddinoseg.cuda.require=true: if CUDA cannot be opened they FAIL instead of skipping.
# Exit status: the tests' (the benchmark is informational).
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -z "${JAVA:-}" ]; then
  if [ ! -x .jre/bin/java ] && [ -f target/jre.tar.xz ]; then tar -xJf target/jre.tar.xz; fi
  if [ -x .jre/bin/java ]; then JAVA=.jre/bin/java; else JAVA=java; fi
fi
for f in target/dinoseg.jar target/test-classes target/test-lib; do
  if [ ! -e "$f" ]; then echo "[gpu_check] missing $f: run 'mvn -B package -DskipTests' (and 'mvn test-compile') first" >&2; exit 2; fi
done
echo "[gpu_check] java: $("$JAVA" -version 2>&1 | head -1)"
if command -v nvidia-smi >/dev/null 2>&1; then nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; else echo "[gpu_check] nvidia-smi not found"; fi

CP="target/dinoseg.jar:target/test-classes:target/test-lib/*"
mkdir -p target/gpu-check
"$JAVA" -Xmx16g -Ddinoseg.cuda.require=true -cp "$CP" org.junit.platform.console.ConsoleLauncher execute \
  --disable-banner --details=tree --fail-if-no-tests \
  --select-package dinoseg.backend.cuda --exclude-classname ".*KernelEmulationTest" \
  --reports-dir target/gpu-check/reports
tests=$?
echo "[gpu_check] CUDA tests exit status: $tests"

if "$JAVA" -jar target/dinoseg.jar --help 2>/dev/null | grep -qE '^ +bench( |$)'; then
  "$JAVA" -Xmx16g -jar target/dinoseg.jar bench --device cuda || echo "[gpu_check] bench failed (exit $?)"
else
  echo "[gpu_check] this build has no 'bench' command: benchmark skipped"
fi
exit $tests
