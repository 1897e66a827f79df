#!/usr/bin/env bash
# The CUDA paths of edgekd's training engine, checked on one GPU in a few minutes:
# teacher training, KD with each precision (bf16 autocast, fp16 + grad scaler, fp32),
# torch.compile, DDP over NCCL with one rank (torchrun), the distillation speed benchmark on
# CUDA, then the tests marked `gpu`. Each step prints its figures (img/s, test top-1, precision,
# process group) read back from the run's card, so a log is a record.
#
#   bash benchmarks/gpu_check.sh [OUTDIR] [EPOCHS]      # defaults: runs/gpu-check, 2
#   DEVICE=cpu LIMIT=1000 bash benchmarks/gpu_check.sh /tmp/dry 1   # dry run of the script itself
#
# Needs Fashion-MNIST (the Debian path, --data-dir's folder or $EDGEKD_DATA_DIR) and a CUDA
# torch. Exit code: the number of failed steps (0: all ran).
set -u
OUTDIR=${1:-runs/gpu-check}
EPOCHS=${2:-2}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
LIMIT=${LIMIT:+--limit-train $LIMIT}
export PYTHONUNBUFFERED=1
mkdir -p "$OUTDIR"
failed=0

step() {  # step NAME TIMEOUT_S COMMAND… : run it, log to OUTDIR/NAME.log, print rc and seconds
  local name=$1 limit=$2; shift 2
  local started=$SECONDS
  echo "== $name: $*"
  timeout "$limit" "$@" >"$OUTDIR/$name.log" 2>&1
  local rc=$?
  echo "   rc=$rc in $((SECONDS - started)) s"
  if [ "$rc" -ne 0 ]; then failed=$((failed + 1)); tail -n 15 "$OUTDIR/$name.log"; fi
}

card() {  # card DIR FILE: one line of figures from a teacher.json / student.json
  "$PY" - "$1/$2" <<'EOF'
import json, sys
try:
    card = json.load(open(sys.argv[1]))
except OSError as exc:
    print(f"   (no card: {exc})"); sys.exit(0)
t, m = card["training"], card["metrics"]
print(f"   {t['device']} {t['precision']} world_size={t['world_size']} process_group={t.get('process_group')} "
      f"train {t['train_img_per_s']:.0f} img/s, train time {t['train_time_s']:.1f} s, test top-1 {m['test']['top1']:.2f} %")
EOF
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$PY" -c "import torch, timm, onnxruntime; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'bf16', torch.cuda.is_bf16_supported(), '| timm', timm.__version__, '| ort', onnxruntime.__version__)"

# shellcheck disable=SC2206  # LIMIT is empty or two words on purpose
COMMON=(--data fashion-mnist --img-size 32 --epochs "$EPOCHS" --device "$DEVICE" --seed 0 $LIMIT)
step teacher 300 "$PY" -m edgekd teacher train resnet18 "${COMMON[@]}" --out "$OUTDIR/teacher"
card "$OUTDIR/teacher" teacher.json

KD=(--teacher "$OUTDIR/teacher" --student mobilenetv3_small_050 --method kd "${COMMON[@]}")
for amp in bf16 fp16 off; do
  step "kd-$amp" 300 "$PY" -m edgekd distill "${KD[@]}" --amp "$amp" --out "$OUTDIR/kd-$amp"
  card "$OUTDIR/kd-$amp" student.json
done
step kd-compile 400 "$PY" -m edgekd distill "${KD[@]}" --compile --out "$OUTDIR/kd-compile"
card "$OUTDIR/kd-compile" student.json
step kd-nccl-1rank 300 "$PY" -m torch.distributed.run --standalone --nproc-per-node=1 -m edgekd distill "${KD[@]}" --out "$OUTDIR/kd-nccl"
card "$OUTDIR/kd-nccl" student.json

step distill-speed 300 "$PY" benchmarks/distill_speed.py --device "$DEVICE" --threads 8 ${LIMIT:+--quick} --teacher "$OUTDIR/teacher" --json "$OUTDIR/distill-speed.json"
sed -n '1,12p' "$OUTDIR/distill-speed.log"

step pytest-gpu 300 "$PY" -m pytest -q -m gpu -p no:cacheprovider
tail -n 3 "$OUTDIR/pytest-gpu.log"

echo "== $failed step(s) failed"
exit "$failed"
