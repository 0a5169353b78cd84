#!/usr/bin/env bash
# GPU check of the fast PSA (issue 13): the CUDA flip sums against the eager reference (the `#| cuda` cells of
# nbs/10_psa.ipynb and nbs/10a_sbn_conv.ipynb), then `sbn-bench` on CUDA (FC 784-512-512-10 at batch 128,
# the all-conv CIFAR SBN at batch 64). Budget: under 8 minutes on one GPU. Run from the repository root:
#     bash tools/gpu_check.sh [PYTHON]
set -euo pipefail
PY=${1:-.venv/bin/python}
BIN=$(dirname "$PY")
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_check: error: no CUDA device')"
"$PY" -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))"
for nb in nbs/10_psa.ipynb nbs/10a_sbn_conv.ipynb; do
  echo "== $nb (with #| cuda cells)"
  timeout 240 "$BIN/nbdev_test" --path "$nb" --flags cuda
done
echo "== sbn-bench on CUDA"
timeout 240 "$BIN/sbn-bench" --devices cuda --nets fc,cifar --estimators float,st,psa --repeats 5 --json "${OUT:-/tmp}/gpu_bench.jsonl"
