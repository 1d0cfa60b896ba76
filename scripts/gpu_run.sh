#!/usr/bin/env bash
# The one device call that trained the shipped checkpoints (see docs/training.md):
# train the prior and the three task models within a time budget, then measure training throughput.
# Rehearse on CPU with: OUT=/tmp/o BUDGET=40 DEVICE=cpu SMALL=1 bash scripts/gpu_run.sh
set -u
export PYTHONPATH=. PYTHONUNBUFFERED=1
OUT=${OUT:?set OUT}
BUDGET=${BUDGET:-470}
DEVICE=${DEVICE:-cuda}
mkdir -p "$OUT/w"
{ nvidia-smi -L 2>&1; python3 -c "import torch; print('torch', torch.__version__)"; nproc; } > "$OUT/env.txt"
if [ -n "${SMALL:-}" ]; then
  size=(--prior-batch 16 --task-batch 4 --prior-eval-every 5 --task-eval-every 3 --val-limit 16 --test-limit 16 --image-size 32)
  speed=(--presets tiny --seconds 1)
else
  size=(--prior-batch 256 --task-batch 128 --prior-eval-every 500 --task-eval-every 50 --prior-share 0.4)
  speed=(--presets compact --precision fp32 bf16 --seconds 1 --finetune-batch 32)
fi
timeout $((BUDGET + 50)) python3 scripts/train_defaults.py --data .data --out "$OUT/w" --budget "$BUDGET" \
  --device "$DEVICE" "${size[@]}" 2>&1 | tee "$OUT/w/train.txt"
(cd "$OUT/w" && tar cf ../extras.tar ./*.png ./*.jsonl train.txt)
mv "$OUT"/w/*.safetensors "$OUT"/ && rm -rf "$OUT/w"
timeout 30 python3 benchmarks/train_speed.py --device "$DEVICE" "${speed[@]}" > "$OUT/train_speed.md" 2>&1
ls -la "$OUT"
