#!/usr/bin/env bash
# One cross-fitting fold of one member, in two stages (issue 22's recipe): low resolution
# (128x171, fp32 channels_last, frozen stem + first two stages) for most epochs, then a short
# fine-tune at the app's 192x256. Weights and manifests go to runs/crossfit/ (not shipped);
# both stages resume where they stopped (run the same command again).
#   scripts/crossfit_train.sh DATA FOLD [ARCH] [NAME]
# e.g. nohup nice -n 10 scripts/crossfit_train.sh ../shared/data/ham10000 0 > runs/crossfit/lite0_f0.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:?data folder}
FOLD=${2:?fold}
ARCH=${3:-tf_efficientnet_lite0}
NAME=${4:-lite0}
PY=${PYTHON:-.venv/bin/python}
FOLDS=${FOLDS_FILE:-ml/weights/crossfit.folds.json}
OUT=${CROSSFIT_DIR:-runs/crossfit}
RUNS=${RUNS_DIR:-runs}
LOW_EPOCHS=${LOW_EPOCHS:-24}
HIGH_EPOCHS=${HIGH_EPOCHS:-4}
mkdir -p "$OUT"
low="${NAME}_f${FOLD}_low"
high="${NAME}_f${FOLD}"
common=(--arch "$ARCH" --data "$DATA" --folds-file "$FOLDS" --fold "$FOLD" --out-dir "$OUT" --runs-dir "$RUNS"
        --batch-size 32 --device cpu --threads 2 --class-weight-power 0.3 --select mean --no-finalize --no-progress)
if [ ! -f "$OUT/$low.json" ]; then
  resume=(); [ -f "$RUNS/$low/last.pt" ] && resume=(--resume)
  "$PY" -m ml.engine.training.train "${common[@]}" --output "$low" --image-size 128 171 --epochs "$LOW_EPOCHS" \
    --lr 6e-4 --patience 8 --seed "$FOLD" "${resume[@]}"
fi
if [ ! -f "$OUT/$high.json" ]; then
  resume=(); [ -f "$RUNS/$high/last.pt" ] && resume=(--resume)
  "$PY" -m ml.engine.training.train "${common[@]}" --output "$high" --image-size 192 256 --epochs "$HIGH_EPOCHS" \
    --lr 1.5e-4 --warmup-epochs 0.3 --patience 3 --seed "$FOLD" --init-from "$OUT/$low.json" "${resume[@]}"
fi
echo "fold $FOLD of $NAME done: $OUT/$high.json"
