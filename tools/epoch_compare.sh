#!/usr/bin/env bash
# Seconds per training epoch, dinoseg `train` against the PyTorch loop of tools/epoch_peer.py, on the
# same files, one after the other on the same machine. Per mode (linear = frozen backbone, finetune =
# --fine-tune) it runs the peer, then dinoseg (then BASE_JAR's dinoseg when given, e.g. an older
# build), each for EPOCHS epochs; the first epoch is warm-up, the median of the others is compared.
#
#   /usr/bin/python3 tools/make_epoch_dataset.py --out /tmp/epoch_voc      # once: 368 train / 48 val pairs
#   tools/epoch_compare.sh /tmp/epoch_voc
#
# Knobs (environment): MODES ("linear finetune"), EPOCHS (2), IMGSZ ("224 168"), BATCH (8),
# JAR (target/dinoseg.jar), BASE_JAR (unset), OUT (/tmp/epoch_compare), JAVA_OPTS (extra JVM options,
# e.g. -Ddinoseg.imageCacheMiB=0 to time dinoseg without its decode-once cache).
# Output: one JSON line per run on stdout ({"engine", "mode", "epochs_s", "first_epoch_s",
# "epoch_s_median", "load_before", "load_after", ...}) and one {"ratio"} line per mode: dinoseg's
# median epoch seconds over the peer's (below 1: dinoseg is faster). Logs go to OUT/*.log.
set -euo pipefail
DATA="${1:?usage: tools/epoch_compare.sh DATA_DIR (made by tools/make_epoch_dataset.py)}"
MODES="${MODES:-linear finetune}"
EPOCHS="${EPOCHS:-2}"
IMGSZ="${IMGSZ:-224 168}"
BATCH="${BATCH:-8}"
JAR="${JAR:-target/dinoseg.jar}"
OUT="${OUT:-/tmp/epoch_compare}"
PY=/usr/bin/python3
here="$(cd "$(dirname "$0")" && pwd)"
[ -f "$JAR" ] || { echo "epoch_compare: $JAR: no jar (mvn -B -o -q package -DskipTests)" >&2; exit 2; }
[ "$EPOCHS" -ge 2 ] || { echo "epoch_compare: EPOCHS must be at least 2 (the first is warm-up)" >&2; exit 2; }
mkdir -p "$OUT"
load() { cut -d' ' -f1 /proc/loadavg; }

# dinoseg's epochs from its metrics.csv (column "seconds": the training part of each epoch)
dinoseg_json() { # engine mode dir load_before load_after
  "$PY" - "$@" <<'EOF'
import csv, json, statistics, sys
engine, mode, d, lb, la = sys.argv[1:]
rows = list(csv.DictReader(open(d + "/metrics.csv")))
s = [float(r["seconds"]) for r in rows]
print(json.dumps({"engine": engine, "mode": mode, "epochs_s": s, "first_epoch_s": s[0],
                  "epoch_s_median": statistics.median(s[1:]), "load_before": float(lb), "load_after": float(la)}))
EOF
}

run_dinoseg() { # engine jar mode
  local engine="$1" jar="$2" mode="$3" dir="$OUT/$1-$3" lb la
  rm -rf "$dir"
  local ft=(); [ "$mode" = finetune ] && ft=(--fine-tune)
  lb=$(load)
  # shellcheck disable=SC2086
  java ${JAVA_OPTS:-} -jar "$jar" train --data "$DATA" --imgsz $IMGSZ --batch "$BATCH" --epochs "$EPOCHS" "${ft[@]}" \
    --out-dir "$dir" > "$OUT/$engine-$mode.log" 2>&1 || { echo "epoch_compare: $engine $mode failed, see $OUT/$engine-$mode.log" >&2; return 1; }
  la=$(load)
  dinoseg_json "$engine" "$mode" "$dir" "$lb" "$la" | tee "$OUT/$engine-$mode.json"
}

uptime >&2
for mode in $MODES; do
  rm -f "$OUT"/*-"$mode".json
  lb=$(load)
  # shellcheck disable=SC2086
  "$PY" "$here/epoch_peer.py" --data "$DATA" --mode "$mode" --imgsz $IMGSZ --batch "$BATCH" --epochs "$EPOCHS" \
    2> "$OUT/peer-$mode.log" > "$OUT/peer-$mode.raw"
  la=$(load)
  "$PY" -c 'import json,sys; d=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); d.update(engine="pytorch", load_before=float(sys.argv[2]), load_after=float(sys.argv[3])); print(json.dumps(d))' \
    "$OUT/peer-$mode.raw" "$lb" "$la" | tee "$OUT/peer-$mode.json"
  run_dinoseg dinoseg "$JAR" "$mode"
  [ -n "${BASE_JAR:-}" ] && run_dinoseg dinoseg-base "$BASE_JAR" "$mode"
  for engine in dinoseg dinoseg-base; do
    [ -f "$OUT/$engine-$mode.json" ] || continue
    "$PY" -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2])); print(json.dumps({"ratio": round(a["epoch_s_median"]/b["epoch_s_median"], 3), "engine": a["engine"], "mode": a["mode"], "dinoseg_s": a["epoch_s_median"], "pytorch_s": b["epoch_s_median"]}))' \
      "$OUT/$engine-$mode.json" "$OUT/peer-$mode.json"
  done
done
uptime >&2
