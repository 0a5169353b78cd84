#!/usr/bin/env bash
# The checks a lent GPU runs (issue 13 and the device-readiness review), in this order:
#   1. CUDA is present; 2. the Triton/Inductor compiler builds kernels on cuda (`compiler_works('cuda')`: without it the
#   `#| cuda` PSA cells below would pass on the eager flip sums alone, so this is a failure, not a warning);
#   3. rebar, relax and rodeo, called on the CPU and then on CUDA, move what they tuned with the network;
#   4. `sbn-train --smoke` on CUDA: the default run (digits, sbn_mlp, st), the same with --amp, and the recipes psa_cifar_psa
#   and reste_resnet18 (generated data of CIFAR-10's format where the files are missing);
#   5. the CUDA flip sums against the eager reference (the `#| cuda` cells of nbs/10_psa.ipynb and nbs/10a_sbn_conv.ipynb);
#   6. `sbn-bench` on CUDA (FC 784-512-512-10 at batch 128, the all-conv CIFAR SBN at batch 64).
# Every step has its own time limit, and all of them together stop at BUDGET seconds (default 510; a step's limit is cut to
# what is left, and a step with no time left is reported as skipped): with the kill grace, the whole script stays within
# 9 minutes, inside a session's device time with the machine's start-up. A failed, timed-out or skipped step is reported
# on a FAILED line as it happens and in the summary; the script then exits 1 (0 only when every step passed).
# Run from the repository root:
#     bash tools/gpu_check.sh [PYTHON]
set -uo pipefail
PY=${1:-.venv/bin/python}
BIN=$(dirname "$PY")
BUDGET=${BUDGET:-510}
END=$((SECONDS + BUDGET))
FAILED=()
step() {   # step NAME LIMIT COMMAND...: run COMMAND under min(LIMIT, time left), report ok or FAILED
  local name=$1 limit=$2 left rc; shift 2
  left=$((END - SECONDS))
  if ((left < 10)); then echo "gpu_check: FAILED: $name: skipped, no time left of the ${BUDGET} s budget"; FAILED+=("$name (skipped)"); return; fi
  ((limit > left)) && limit=$left
  echo "== $name (limit ${limit} s)"
  timeout -k 5 "$limit" "$@"; rc=$?
  if ((rc == 0)); then echo "-- ok: $name"
  elif ((rc == 124 || rc == 137)); then echo "gpu_check: FAILED: $name: timed out after ${limit} s"; FAILED+=("$name (timed out)")
  else echo "gpu_check: FAILED: $name: exit status $rc"; FAILED+=("$name (exit $rc)"); fi
}
step "CUDA device" 60 "$PY" -c "import torch, sys
if not torch.cuda.is_available(): sys.exit('gpu_check: error: no CUDA device')
print(torch.__version__, torch.cuda.get_device_name(0))"
if [[ ${#FAILED[@]} -gt 0 ]]; then echo "gpu_check: FAILED: no CUDA device, nothing else checked"; exit 1; fi
step "Triton/Inductor compiler on cuda" 90 "$PY" -c "import sys
from sbn_estimators.psa import compiler_works
sys.exit(0 if compiler_works('cuda') else 'gpu_check: error: torch.compile does not work on cuda (the warning above says why): the PSA cuda checks would test the eager flip sums only')"
read -r -d '' FOLLOW <<'PY'
import torch
from sbn_estimators.estimators import estimator
from sbn_estimators.sbn import SBNMLP
for name in ('rebar', 'relax', 'rodeo'):   # a first call on the CPU, then the network moves: the tuned state follows it
    torch.manual_seed(0)
    net = SBNMLP([2, 4, 4, 1], dtype=torch.float32); x, y = torch.randn(8, 2), torch.randn(8, 1).sign()
    e = estimator(name); e.surrogate(net, x, y).backward()
    net.cuda(); e.surrogate(net, x.cuda(), y.cuda()).backward()
    sd = e.state_dict(); ts = sd['tuned'] if 'tuned' in sd else [sd['alphas'], sd['betas'], *sd['nets'].values()]
    ms = [v for st in sd['opt']['state'].values() for k, v in st.items() if k != 'step']
    assert all(t.is_cuda for t in ts + ms), (name, {str(t.device) for t in ts + ms})
    print(name, 'follows the network from the CPU to cuda')
PY
step "rebar, relax, rodeo follow the network to cuda" 60 "$PY" -c "$FOLLOW"
step "sbn-train --smoke on cuda" 60 "$BIN/sbn-train" --smoke --device cuda --threads 1
step "sbn-train --smoke --amp on cuda" 60 "$BIN/sbn-train" --smoke --device cuda --threads 1 --amp
step "sbn-train --recipe psa_cifar_psa --smoke on cuda" 120 "$BIN/sbn-train" --recipe psa_cifar_psa --smoke --device cuda --threads 1
step "sbn-train --recipe reste_resnet18 --smoke on cuda" 90 "$BIN/sbn-train" --recipe reste_resnet18 --smoke --device cuda --threads 1
for nb in nbs/10_psa.ipynb nbs/10a_sbn_conv.ipynb; do
  step "$nb (with #| cuda cells)" 150 "$BIN/nbdev_test" --path "$nb" --flags cuda
done
step "sbn-bench on cuda" 150 "$BIN/sbn-bench" --devices cuda --nets fc,cifar --estimators float,st,psa --repeats 5 --json "${OUT:-/tmp}/gpu_bench.jsonl"
if [[ ${#FAILED[@]} -gt 0 ]]; then
  echo "gpu_check: FAILED ${#FAILED[@]} step(s):"; printf '  %s\n' "${FAILED[@]}"; exit 1
fi
echo "gpu_check: all steps passed"
