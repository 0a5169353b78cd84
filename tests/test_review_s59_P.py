"""On the CPU, 'auto' compiles PSA's head only where fusing pays: at least two outputs and `PSA_HEAD_COMPILE_UNITS`
units per block (a block of one unit is padded to two); the count of terms alone decided before, and compiled the
5-5-5 gradeval head (500k terms, one output, one unit per block), several times slower than eager there. CUDA unchanged."""
import pytest, torch
import sbn_estimators.psa as psa
from sbn_estimators.psa import flip_losses
from sbn_estimators.core import get_loss

CPU = torch.device('cpu')

def took_compiled(monkeypatch, S, B, out, n, backend='auto'):
    "Whether `flip_losses` on a head [S, B, out] of n units tries the compiled head (recorded; the eager path runs instead)."
    calls = []
    monkeypatch.setattr(psa, 'compiler_works', lambda t: True)   # deterministic: no compiler is probed
    monkeypatch.setattr(psa, '_flip_losses_fused', lambda *a: calls.append(1))   # None: the block takes the eager way
    loss = get_loss('logistic' if out == 1 else 'cross_entropy')
    a0, xf, V = torch.randn(S, B, out), torch.randn(S, B, n).sign(), torch.randn(S, out, n)
    y = torch.randint(0, out, (B,)) if out > 1 else torch.randn(B, 1).sign()
    flip_losses(a0, xf, V, y, loss, backend)
    return bool(calls)

@pytest.mark.parametrize('S,B,out,n,want', [
    (500, 200, 1, 5, False),    # the 5-5-5 gradeval head: one output, one unit per block
    (104, 200, 10, 5, False),   # ten outputs, one unit per block
    (81, 200, 1, 64, False),    # one output, eight units per block
    (8, 200, 10, 64, True),     # ten outputs, eight units per block, 1 Mi terms
    (32, 200, 10, 16, True)])   # ten outputs, two units per block
def test_auto_head_gate_on_cpu(monkeypatch, S, B, out, n, want):
    assert took_compiled(monkeypatch, S, B, out, n) == want

def test_forced_backends_and_small_heads(monkeypatch):
    assert took_compiled(monkeypatch, 500, 200, 1, 5, 'compiled')       # 'compiled' whatever the shape
    assert not took_compiled(monkeypatch, 8, 200, 10, 64, 'eager')
    assert not took_compiled(monkeypatch, 2, 20, 10, 64)                  # below PSA_HEAD_COMPILE_MIN terms

def test_gate_function_and_cuda_unchanged(monkeypatch):
    monkeypatch.setattr(psa, 'compiler_works', lambda t: True)
    assert not psa.head_use_compiled('auto', (500, 200, 1), 5, CPU)
    assert psa.head_use_compiled('auto', (8, 200, 10), 64, CPU)
    assert psa.head_use_compiled('auto', (500, 200, 1), 5, torch.device('cuda'))   # on CUDA: the count of terms, as before
    assert not psa.head_use_compiled('auto', (2, 20, 10), 64, torch.device('cuda'))
    monkeypatch.setenv('PSA_BACKEND', 'compiled')
    assert psa.head_use_compiled(None, (500, 200, 1), 5, CPU)              # None: $PSA_BACKEND
