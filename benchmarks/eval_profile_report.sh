#!/usr/bin/env bash
# The evaluate/profile/report acceptance run on Fashion-MNIST, end to end through the CLI:
#   teacher → distill (KD) → export (ONNX + CPU INT8) → eval + profile of all four → report.
# Prints the report's tables and leaves runs in $OUT (default runs/eval-profile-report).
#
#   benchmarks/eval_profile_report.sh            # full: resnet18 → mobilenetv3_small_050, 32 px, 3 s per batch size
#   QUICK=1 benchmarks/eval_profile_report.sh    # smoke: small subset, 1 epoch, 0.5 s per batch size
#
# Figures depend on the machine: run it on a quiet one, and compare only within one machine fingerprint.
set -euo pipefail
cd "$(dirname "$0")/.."
EDGEKD=${EDGEKD:-.venv/bin/edgekd}
OUT=${OUT:-runs/eval-profile-report}
if [[ "${QUICK:-0}" == 1 ]]; then
  LIMIT=2000 EPOCHS=1 DURATION=0.5
else
  LIMIT=12000 EPOCHS=3 DURATION=3
fi
THREADS=${THREADS:-2}

"$EDGEKD" teacher train resnet18 --data fashion-mnist --limit-train "$LIMIT" --epochs "$EPOCHS" --img-size 32 --out "$OUT/teacher"
"$EDGEKD" distill --teacher "$OUT/teacher" --student mobilenetv3_small_050 --method kd --data fashion-mnist \
  --limit-train "$LIMIT" --epochs "$EPOCHS" --img-size 32 --out "$OUT/student"
"$EDGEKD" export "$OUT/student/student.safetensors" --int8 --calib calibration/fmnist-val-512.yaml --int8-target cpu --out "$OUT/export"

mapfile -t ARTEFACTS < <(printf '%s\n' "$OUT/teacher/teacher.safetensors" "$OUT/student/student.safetensors"; find "$OUT/export" -maxdepth 1 -name '*.onnx' | sort)
for artefact in "${ARTEFACTS[@]}"; do
  "$EDGEKD" eval "$artefact" --teacher "$OUT/teacher/teacher.safetensors" --threads "$THREADS"
  "$EDGEKD" profile "$artefact" --batch 1,8,32 --duration "$DURATION" --threads "$THREADS"
done
"$EDGEKD" report "$OUT" --teacher "$OUT/teacher" --title "Fashion-MNIST: resnet18 → mobilenetv3_small_050 (KD)" --out "$OUT/report"
cat "$OUT/report/report.md"
