#!/usr/bin/env bash
# dinoseg GPU kit: the one entry script. tools/gpu_kit.sh copies it into the kit as run.sh beside
# jre.tar.xz (a jlink Java 17 runtime), lib/ (the thin class path) and torch_peer.py. On a GPU machine
# with no Java, from the repository root:
#
#   OUT=/some/folder bash .device/kit/run.sh
#
# Steps (KIT_STEPS, in this order; each boxed with `timeout`, a failing step does not stop the next):
#   tests-blocking  the CUDA JUnit tests (package dinoseg.backend.cuda, KernelEmulationTest excluded),
#                   -Ddinoseg.cuda.require=true, CUDA_LAUNCH_BLOCKING=1 (errors surface at their launch)
#   tests-async     the same without CUDA_LAUNCH_BLOCKING (the stream-ordered mode the engine runs in)
#   memory          bench --estimate-memory (the meta backend, nothing computed) for fine-tuning ViT-S/14 @644
#                   batch 2 and ViT-g/14 @518 batch 1: peak_gpu_mib that the step's tensor lifetimes need
#   bench           dinoseg bench --device cuda at KIT_IMGSZ: infer batch 1, linear 8, finetune 2 and 8
#                   (peak_gpu_mib from the caching allocator: finetune b2 @644 is the 4 GB target of issue 13)
#                   in fp32, then finetune batch 8 again with --precision bf16 (tensor-core GEMMs), and
#                   finetune batch 2 and bf16 batch 8 with --cuda-graphs (the step replayed as one CUDA graph)
#   peer            torch_peer.py --device cuda, the same three settings, without and with --amp
#   ops             bench --mode gemm and --mode attention in bf16 (batch 8; checked against the CPU), and
#                   torch_ops.py's torch.matmul / scaled_dot_product_attention on the same shapes
#   memcheck        compute-sanitizer --tool memcheck on CudaOpsTest (small shapes)
#   racecheck       compute-sanitizer --tool racecheck on four CudaOpsTest methods (shared-memory kernels)
# The whole run keeps within KIT_BUDGET_S seconds (default 470): a step gets min(its box, time left),
# and steps that no longer fit are recorded as skipped.
#
# Writes to $OUT (7 files): run.log (everything printed), steps.jsonl (one JSON line per step: step,
# status ok|failed|timeout|skipped, rc, seconds, result = the program's own JSON line for bench/peer,
# test or sanitizer counts otherwise, note), summary.txt, tests-blocking.xml and tests-async.xml
# (JUnit XML), memcheck.log and racecheck.log (compute-sanitizer's own report).
# Exit status: 0 when no step failed, timed out or was skipped for lack of time, else 1.
#
# Knobs (environment; defaults are the GPU run's):
#   KIT_STEPS        steps to run (default: all of the above)
#   KIT_BUDGET_S     total seconds (470)            KIT_IMGSZ       image side for bench and peer (644)
#   KIT_BENCH_ARGS   extra bench arguments          KIT_PEER_ARGS   extra torch_peer.py arguments
#   KIT_BENCH_SETTINGS, KIT_PEER_SETTINGS   mode:batch lists ("infer:1 linear:8 finetune:2 finetune:8", "infer:1 linear:8 finetune:8")
#   KIT_TEST_SELECT  JUnit selectors and filters (--select-package dinoseg.backend.cuda)
#   KIT_REQUIRE      true: CUDA tests fail instead of skipping without CUDA (true)
#   KIT_BOX_SCALE    multiplies every step's box (1; the CPU dry run uses more)
#   KIT_XMX          Java heap (16g)                PYTHON          python with PyTorch (python3)
#   KIT_PEER_DEVICE  device for torch_peer.py (cuda; "cpu" lets a CUDA-less dry run exercise it)
#   KIT_SANITIZER    compute-sanitizer to use, or "none" (found on PATH or under /usr/local/cuda*/bin)
#   JAVA             a Java 17 to use instead of the kit's runtime
set -uo pipefail
KIT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${OUT:?set OUT to the folder for the results}"
mkdir -p "$OUT" && OUT="$(cd "$OUT" && pwd)"
START_MS=$(date +%s%3N)
BUDGET=${KIT_BUDGET_S:-470}
STEPS=" ${KIT_STEPS:-tests-blocking tests-async memory bench peer ops memcheck racecheck} "
IMGSZ=${KIT_IMGSZ:-644}
read -r -a BENCH_ARGS <<< "${KIT_BENCH_ARGS:-}"
read -r -a PEER_ARGS <<< "${KIT_PEER_ARGS:-}"
read -r -a TEST_SELECT <<< "${KIT_TEST_SELECT:---select-package dinoseg.backend.cuda}"
REQUIRE=${KIT_REQUIRE:-true}
PY=${PYTHON:-python3}
PEER_DEVICE=${KIT_PEER_DEVICE:-cuda}
WORK="$(mktemp -d "${TMPDIR:-/tmp}/dinoseg-kit.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/tmp"
exec > >(tee -a "$OUT/run.log") 2>&1
TEE_PID=$!
JSONL="$OUT/steps.jsonl"
: > "$JSONL"
FAILED=0
NOTIME=0
CRASH=""

now_ms() { date +%s%3N; }
elapsed_s() { echo $(( ($(now_ms) - START_MS) / 1000 )); }
secs() { printf '%d.%d' $(( $1 / 1000 )) $(( ($1 % 1000) / 100 )); }
# a JSON string: backslashes and quotes escaped, control characters dropped
jstr() { local s; s="$(printf '%s' "$1" | tr -d '\000-\037')"; s=${s//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }
say() { echo "[kit $(printf '%4d' "$(elapsed_s)")s] $*"; }
# a line that is one JSON object (from bench or the peer), or nothing
json_line() { grep -E '^\{.*\}[[:space:]]*$' "$1" | tail -1; }
# every line that is one JSON object, as a JSON array (bench --mode gemm|attention, torch_ops.py), or nothing
json_lines() { local l; l="$(grep -E '^\{.*\}[[:space:]]*$' "$1" | paste -sd, -)"; [ -n "$l" ] && printf '[%s]' "$l"; }
# the last line of a program's output that explains a failure
last_words() { grep -v -E '^\{|^[[:space:]]*$|^WARNING: Using incubator' "$1" | tail -1 | cut -c1-300; }

# record NAME STATUS RC MS RESULT_JSON NOTE
record() {
  local line
  line="{\"step\":$(jstr "$1"),\"status\":\"$2\",\"rc\":${3:-null},\"seconds\":$(secs "${4:-0}"),\"result\":${5:-null},\"note\":$(jstr "${6:-}")}"
  echo "$line" >> "$JSONL"
  say "$1: $2 ($(secs "${4:-0}") s)${6:+ - $6}"
  case "$2" in failed|timeout) FAILED=$((FAILED + 1)) ;; esac
  [ "${6:-}" = "time budget spent" ] && NOTIME=$((NOTIME + 1))
}

# boxed NAME BOX CAPTURE CMD...: runs CMD under timeout (min(BOX, time left)), output to the log and
# CAPTURE; sets RC and MS. Returns 1 (RC empty) when the budget has no room for it.
boxed() {
  local name=$1 box=$(( $2 * ${KIT_BOX_SCALE:-1} )) cap=$3 left
  shift 3
  left=$(( BUDGET - $(elapsed_s) - 5 ))
  [ "$left" -lt "$box" ] && box=$left
  RC=""; MS=0
  if [ "$box" -lt 15 ]; then return 1; fi
  say "$name: $* (box ${box}s)"
  local t0; t0=$(now_ms)
  timeout -k 10 "$box" "$@" 2>&1 | tee "$cap"
  RC=${PIPESTATUS[0]}
  MS=$(( $(now_ms) - t0 ))
  CRASH=""
  local h
  for h in "$WORK"/hs_err_pid*.log; do
    [ -f "$h" ] || continue
    CRASH="JVM crashed: $(grep -m1 -A1 '^# Problematic frame' "$h" | tail -1 | cut -c1-200)"
    echo "---- $name: head of the JVM's crash report $(basename "$h")"
    sed -n '1,60p' "$h"
    echo "----"
    mv "$h" "$h.seen"
  done
  return 0
}
status_of() { case "$1" in 0) echo ok ;; 124|137) echo timeout ;; *) echo failed ;; esac; }
wanted() { [[ "$STEPS" == *" $1 "* ]]; }

say "dinoseg GPU kit: $(head -1 "$KIT/MANIFEST.txt" 2>/dev/null || echo 'no MANIFEST.txt')"
say "host ${HOSTNAME:-?}, $(nproc) cores, OUT=$OUT, budget ${BUDGET}s, steps:${STEPS% }"
GPU="none"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi || true
  GPU="$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"
else
  say "nvidia-smi not found"
fi

# --- Java: the kit's jlink runtime (unpacked under $WORK), else $JAVA
if [ -z "${JAVA:-}" ]; then
  if [ -f "$KIT/jre.tar.xz" ]; then
    if command -v xz >/dev/null 2>&1; then
      tar -C "$WORK" -xJf "$KIT/jre.tar.xz"
    else  # no xz binary: Python's lzma module reads the archive (keeps the executable bits)
      "$PY" -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$KIT/jre.tar.xz" "$WORK"
    fi
    JAVA="$(ls -d "$WORK"/*/bin/java 2>/dev/null | head -1)"
  fi
fi
if [ -z "${JAVA:-}" ] || ! "$JAVA" -version >/dev/null 2>&1; then
  say "no usable Java (kit runtime missing or broken; set JAVA): every Java step fails"
  JAVA="${JAVA:-java}"
fi
JAVA_VERSION="$("$JAVA" -version 2>&1 | head -1)"
say "java: $JAVA ($JAVA_VERSION)"
LIB="$KIT/lib"
MAIN_CP="$LIB/dinoseg.jar:$LIB/jcuda.jar:$LIB/jcublas.jar:$LIB/jcuda-natives.jar:$LIB/picocli.jar:$LIB/gson.jar"
TEST_CP="$MAIN_CP:$LIB/dinoseg-cuda-tests.jar:$LIB/junit/*"
# a JVM crash report goes to $WORK (not the current folder, which is the repository); its head lands in the log
JOPTS=(--add-modules jdk.incubator.vector "-Xmx${KIT_XMX:-16g}" "-Djava.io.tmpdir=$WORK/tmp" -Djava.awt.headless=true
  "-XX:ErrorFile=$WORK/hs_err_pid%p.log")
export DINOSEG_NO_RELAUNCH=1  # the module is added above; no child JVM

# --- PyTorch for the peer
PEER_OK=""; PEER_WHY=""; TORCH="none"
if ! TORCH="$("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null)"; then
  TORCH="none"; PEER_WHY="$PY has no PyTorch"
elif [ "$PEER_DEVICE" = cuda ] && ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  PEER_WHY="PyTorch $TORCH sees no CUDA device"
else
  PEER_OK=1
fi

# --- compute-sanitizer
SAN="${KIT_SANITIZER:-}"
if [ -z "$SAN" ]; then
  SAN="$(command -v compute-sanitizer 2>/dev/null || true)"
  if [ -z "$SAN" ]; then SAN="$(ls -d /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda*/bin/compute-sanitizer \
      /usr/local/cuda*/compute-sanitizer/compute-sanitizer /opt/nvidia/*/compute-sanitizer 2>/dev/null | head -1)"; fi
fi
[ "$SAN" = none ] && SAN=""
echo "{\"step\":\"env\",\"gpu\":$(jstr "$GPU"),\"java\":$(jstr "$JAVA_VERSION"),\"torch\":$(jstr "$TORCH"),\"compute_sanitizer\":$(jstr "${SAN:-none}"),\"kit\":$(jstr "$(head -1 "$KIT/MANIFEST.txt" 2>/dev/null)"),\"imgsz\":$IMGSZ,\"ld_library_path\":$(jstr "${LD_LIBRARY_PATH:-}")}" >> "$JSONL"

# junit NAME BOX [extra env...] -- SELECTORS...: JUnit console launcher over the kit's test jar
junit() {
  local name=$1 box=$2; shift 2
  local envs=()
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  local rep="$WORK/reports-$name" cap="$WORK/$name.out"
  if ! boxed "$name" "$box" "$cap" env "${envs[@]}" "$JAVA" "${JOPTS[@]}" "-Ddinoseg.cuda.require=$REQUIRE" -cp "$TEST_CP" \
      org.junit.platform.console.ConsoleLauncher execute --disable-banner --disable-ansi-colors --details=testfeed \
      --fail-if-no-tests --exclude-classname '.*KernelEmulationTest' --reports-dir "$rep" "$@"; then
    record "$name" skipped "" 0 null "time budget spent"; return; fi
  local xml="$rep/TEST-junit-jupiter.xml" result=null note
  if [ -f "$xml" ]; then
    cp "$xml" "$OUT/$name.xml"
    local suite; suite="$(grep -o '<testsuite [^>]*>' "$xml" | head -1)"
    attr() { printf '%s' "$suite" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
    result="{\"tests\":$(attr tests),\"failures\":$(attr failures),\"errors\":$(attr errors),\"skipped\":$(attr skipped)}"
  fi
  # failed tests as the test feed reports them: "JUnit Jupiter > Class > method() :: FAILED"
  note="$(grep ' :: FAILED' "$cap" | sed 's/^JUnit Jupiter > //; s/ :: FAILED.*//' | head -8 | paste -sd ';' -)"
  [ -z "$note" ] && [ "$RC" != 0 ] && note="$(last_words "$cap")"
  [ -n "$CRASH" ] && note="$CRASH${note:+; $note}"
  record "$name" "$(status_of "$RC")" "$RC" "$MS" "$result" "$note"
}

# sanitize TOOL BOX SELECTORS...: compute-sanitizer TOOL over the JUnit launcher, its report in $OUT/TOOL.log
sanitize() {
  local tool=$1 box=$2; shift 2
  if [ -z "$SAN" ]; then record "$tool" skipped "" 0 null "compute-sanitizer not found (PATH, /usr/local/cuda*/bin)"; return; fi
  local log="$OUT/$tool.log" cap="$WORK/$tool.out"
  # API errors are not counted: CudaOpsTest provokes CUDA_ERROR_OUT_OF_MEMORY on purpose, and a real
  # API error fails its test through JCuda's exception anyway
  if ! boxed "$tool" "$box" "$cap" "$SAN" --tool "$tool" --target-processes all --report-api-errors no --print-limit 50 \
      --log-file "$log" "$JAVA" "${JOPTS[@]}" "-Ddinoseg.cuda.require=$REQUIRE" -cp "$TEST_CP" \
      org.junit.platform.console.ConsoleLauncher execute --disable-banner --disable-ansi-colors --details=summary \
      --fail-if-no-tests "$@"; then
    record "$tool" skipped "" 0 null "time budget spent"; return; fi
  [ -f "$log" ] && { tail -5 "$log"; truncate -s '<15M' "$log"; }
  local summary result=null status note=""
  summary="$(grep -h -E '(ERROR|RACECHECK) SUMMARY' "$log" 2>/dev/null | tail -1)"
  if [ -n "$summary" ]; then
    local n; n="$(printf '%s' "$summary" | sed -n 's/.*SUMMARY: \([0-9]*\).*/\1/p')"
    result="{\"sanitizer_summary\":$(jstr "$summary"),\"reported\":${n:-null},\"junit_rc\":$RC}"
  fi
  status="$(status_of "$RC")"
  if grep -q -i 'device not supported' "$log" "$cap" 2>/dev/null; then
    status=failed; note="compute-sanitizer does not support this device or runtime (seen on gVisor machines)"
  elif [ -n "${n:-}" ] && [ "$n" != 0 ]; then
    status=failed; note="$summary"
  elif [ "$RC" != 0 ]; then
    note="$(last_words "$cap")"
  fi
  [ -n "$CRASH" ] && note="$CRASH${note:+; $note}"
  record "$tool" "$status" "$RC" "$MS" "$result" "$note"
}

# jsonstep NAME BOX EXTRACT CMD...: a program whose result is JSON on stdout, taken by EXTRACT
# (json_line: its one line; json_lines: the array of its lines)
jsonstep() {
  local name=$1 box=$2 extract=$3; shift 3
  local cap="$WORK/${name// /_}.out"
  if ! boxed "$name" "$box" "$cap" "$@"; then record "$name" skipped "" 0 null "time budget spent"; return; fi
  local j; j="$("$extract" "$cap")"
  if [ "$RC" = 0 ] && [ -n "$j" ]; then record "$name" ok 0 "$MS" "$j" ""
  else record "$name" "$( [ "$RC" = 0 ] && echo failed || status_of "$RC")" "$RC" "$MS" "${j:-null}" "${CRASH:-$(last_words "$cap")}"; fi
}
# oneline NAME BOX CMD...: a program that prints one JSON line (bench, the peer)
oneline() { local name=$1 box=$2; shift 2; jsonstep "$name" "$box" json_line "$@"; }
# lines NAME BOX CMD...: a program that prints a JSON line per case; the result is their array
lines() { local name=$1 box=$2; shift 2; jsonstep "$name" "$box" json_lines "$@"; }

read -r -a BENCH_SETTINGS <<< "${KIT_BENCH_SETTINGS:-infer:1 linear:8 finetune:2 finetune:8}"
read -r -a PEER_SETTINGS <<< "${KIT_PEER_SETTINGS:-infer:1 linear:8 finetune:8}"

wanted tests-blocking && junit tests-blocking 120 CUDA_LAUNCH_BLOCKING=1 -- "${TEST_SELECT[@]}"
wanted tests-async && junit tests-async 90 -u CUDA_LAUNCH_BLOCKING -- "${TEST_SELECT[@]}"
if wanted memory; then   # seconds on the CPU: shapes only
  oneline "estimate small 644 b2" 30 "$JAVA" "${JOPTS[@]}" -cp "$MAIN_CP" dinoseg.cli.Main \
    bench --mode finetune --backbone small --imgsz 644 --batch 2 --estimate-memory
  oneline "estimate giant 518 b1" 30 "$JAVA" "${JOPTS[@]}" -cp "$MAIN_CP" dinoseg.cli.Main \
    bench --mode finetune --backbone giant --imgsz 518 --batch 1 --estimate-memory
fi
if wanted bench; then
  for s in "${BENCH_SETTINGS[@]}"; do
    set -- ${s/:/ }
    oneline "bench $1 b$2" $([ "$1" = finetune ] && echo 90 || echo 60) "$JAVA" "${JOPTS[@]}" -cp "$MAIN_CP" dinoseg.cli.Main \
      bench --device cuda --mode "$1" --imgsz "$IMGSZ" --batch "$2" "${BENCH_ARGS[@]}"
  done
  oneline "bench finetune b8 bf16" 90 "$JAVA" "${JOPTS[@]}" -cp "$MAIN_CP" dinoseg.cli.Main \
    bench --device cuda --mode finetune --imgsz "$IMGSZ" --batch 8 --precision bf16 "${BENCH_ARGS[@]}"
  oneline "bench finetune b2 graphs" 90 "$JAVA" "${JOPTS[@]}" -cp "$MAIN_CP" dinoseg.cli.Main \
    bench --device cuda --mode finetune --imgsz "$IMGSZ" --batch 2 --cuda-graphs "${BENCH_ARGS[@]}"
  oneline "bench finetune b8 bf16 graphs" 90 "$JAVA" "${JOPTS[@]}" -cp "$MAIN_CP" dinoseg.cli.Main \
    bench --device cuda --mode finetune --imgsz "$IMGSZ" --batch 8 --precision bf16 --cuda-graphs "${BENCH_ARGS[@]}"
fi
if wanted peer; then
  for amp in "" --amp; do
    for s in "${PEER_SETTINGS[@]}"; do
      set -- ${s/:/ }
      name="peer $1 b$2${amp:+ amp}"
      if [ -z "$PEER_OK" ]; then record "$name" skipped "" 0 null "$PEER_WHY"; continue; fi
      oneline "$name" 45 env PYTHONUNBUFFERED=1 "$PY" "$KIT/torch_peer.py" --device "$PEER_DEVICE" --mode "$1" \
        --imgsz "$IMGSZ" --batch "$2" $amp "${PEER_ARGS[@]}"
    done
  done
fi
if wanted ops; then   # the GEMMs and attention alone, ours (checked against the CPU) and PyTorch's, bf16
  for m in gemm attention; do
    lines "ops $m bf16" 75 "$JAVA" "${JOPTS[@]}" -cp "$MAIN_CP" dinoseg.cli.Main \
      bench --device cuda --mode "$m" --imgsz "$IMGSZ" --batch 8 --precision bf16 "${BENCH_ARGS[@]}"
    if [ -z "$PEER_OK" ]; then record "ops $m bf16 torch" skipped "" 0 null "$PEER_WHY"; continue; fi
    lines "ops $m bf16 torch" 45 env PYTHONUNBUFFERED=1 "$PY" "$KIT/torch_ops.py" --device "$PEER_DEVICE" --mode "$m" \
      --imgsz "$IMGSZ" --batch 8 --precision bf16 "${PEER_ARGS[@]}"
  done
fi
wanted memcheck && sanitize memcheck 90 --select-class dinoseg.backend.cuda.CudaOpsTest
wanted racecheck && sanitize racecheck 75 \
  --select-method dinoseg.backend.cuda.CudaOpsTest#gemmMatchesCpuOnBothPaths \
  --select-method dinoseg.backend.cuda.CudaOpsTest#layerNormForwardBackward \
  --select-method dinoseg.backend.cuda.CudaOpsTest#softmaxArgmaxFlip \
  --select-method dinoseg.backend.cuda.CudaOpsTest#attentionForwardBackward \
  --select-method dinoseg.backend.cuda.TensorCoreGemmTest#bf16KernelMatchesTheCpuOnEveryTranspose

# --- summary: one line per step
{
  echo "dinoseg GPU kit summary ($(elapsed_s) s of ${BUDGET} s; gpu: $GPU; torch: $TORCH; compute-sanitizer: ${SAN:-none})"
  grep -v '"step":"env"' "$JSONL" | while IFS= read -r l; do
    step="$(printf '%s' "$l" | sed -n 's/^{"step":"\([^"]*\)".*/\1/p')"
    st="$(printf '%s' "$l" | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p')"
    sec="$(printf '%s' "$l" | sed -n 's/.*"seconds":\([0-9.]*\).*/\1/p')"
    fig="$(printf '%s' "$l" | grep -o -E '"(tests|failures|errors|skipped|images_per_s|step_s_median|peak_gpu_mib|reported)":[^,}]*' | tr -d '"' | paste -sd ' ' -)"
    # op cases: "case tflops" for each
    [ -z "$fig" ] && fig="$(printf '%s' "$l" | grep -o -E '"case": ?"[^"]*"|"tflops": ?[^,}]*' \
      | sed -E 's/"case": ?"([^"]*)"/\1/; s/"tflops": ?/tflops /' | paste -d ' ' - - | tr ' ' '_' | paste -sd ' ' - | sed 's/_tflops_/:/g')"
    note="$(printf '%s' "$l" | sed -n 's/.*"note":"\(.*\)"}$/\1/p' | cut -c1-160)"
    printf '%-24s %-8s %6ss  %s%s\n' "$step" "$st" "$sec" "$fig" "${note:+  ($note)}"
  done
  echo "failed or timed out: $FAILED; skipped for lack of time: $NOTIME"
} | tee "$OUT/summary.txt"
rc=0; [ "$FAILED" = 0 ] && [ "$NOTIME" = 0 ] || rc=1
exec >&- 2>&-
wait "$TEE_PID" 2>/dev/null  # run.log complete before the caller collects $OUT
exit $rc
