#!/usr/bin/env bash
# Tables I-IV and the denoising sweep with the equal-budget comparison models
# (scripts/train_baselines.py, then `--collect`), on the bundled evaluation sets, CPU.
#
#   bash scripts/run_tables.sh [CKPT_DIR] [OUT_DIR] [BENCHMARK OPTIONS...]   # e.g. --limit 4 to rehearse
#
# Two experiments run at a time, one thread each.
#
# The classical rows and GLOW MAP are left out here (docs/benchmark.md has the classical
# rows on the same images; MAP takes seconds per image on a CPU).
set -euo pipefail
CKPT=${1:-runs/baselines/ckpt}
OUT=${2:-runs/tables}
EXTRA=("${@:3}")
export OMP_NUM_THREADS=1
bench() { flowrestore benchmark --checkpoint-dir "$CKPT" --device cpu --batch-size 32 "${EXTRA[@]}" "$@"; }
m() { for x in "$@"; do printf -- '--method %s ' "$x"; done; }

# shellcheck disable=SC2046
{
  bench --experiment table1 --dataset celeba $(m measurement adjoint resnet resnet-pretrained unet unet-pretrained glow) \
    --output "$OUT/table1"
  bench --experiment table2 --dataset celeba $(m measurement pnp glow) --output "$OUT/table2"
} &
first=$!
# shellcheck disable=SC2046
{
  bench --experiment table3 --dataset celeba $(m measurement adjoint resnet unet glow) --output "$OUT/table3"
  bench --experiment table4 --dataset anime $(m measurement adjoint resnet unet glow) --output "$OUT/table4"
  bench --experiment denoise-sweep --dataset celeba $(m measurement resnet unet glow) --output "$OUT/denoise-sweep"
} &
second=$!
wait "$first"
wait "$second"
