"Review s49 (own): `init_sbn_` initialises a `torch.compile`d SBNMLP (the model it wraps), as `save_sbn`, `psa_ops`, `export_binary` and `import_binary` accept one; one unwrap (`core._uncompiled`) for all five."
import torch
from sbn_estimators import core, layers, psa, sbn
from sbn_estimators.sbn import SBNMLP, init_sbn_

torch.set_num_threads(1)


def test_init_sbn_takes_a_compiled_network():
    X = torch.randn(8, 2, dtype=torch.float64)
    net, ref = SBNMLP([2, 4, 1]), SBNMLP([2, 4, 1])
    assert init_sbn_(torch.compile(net), X, seed=3) is net   # no compile happens: init_sbn_ works on the wrapped module
    init_sbn_(ref, X, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), ref.parameters()))


def test_one_unwrap():
    net = SBNMLP([2, 3, 1])
    assert core._uncompiled(torch.compile(net)) is net and core._uncompiled(net) is net
    assert sbn._uncompiled is psa._uncompiled is layers._uncompiled is core._uncompiled
