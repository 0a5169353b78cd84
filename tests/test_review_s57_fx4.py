"""Review s57, fx4: PSA's compiled backward (page 10) and sbn-bench's case runner (page 10c)."""
import contextvars, errno, json
import pytest
import torch
from sbn_estimators.sbn import SBNMLP, cos_data, init_sbn_
from sbn_estimators.estimators import estimator


def test_compiled_psa_backward_leaves_no_contextvar_behind():
    "Each backward of a compiled PSA kernel set donated_buffer with `config.patch`: one ContextVar more per step, forever."
    import torch._functorch.config as aot
    from sbn_estimators import psa
    torch.manual_seed(0)
    X, Y = cos_data(8)
    net = init_sbn_(SBNMLP([2, 4, 4, 1]), X)
    est = estimator('psa:backend=compiled')
    ran = []
    backward = psa._OwnGraph.backward
    def counted(ctx, g): ran.append(1); return backward(ctx, g)
    def step():
        net.zero_grad(); est.surrogate(net, X, Y).backward()
    step()   # compiles
    before, was = len(contextvars.copy_context()), aot.donated_buffer
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(psa._OwnGraph, 'backward', staticmethod(counted))
        for _ in range(6): step()
    assert ran, "no compiled kernel's own backward ran: the test does not test it"
    assert len(contextvars.copy_context()) == before
    assert aot.donated_buffer == was
