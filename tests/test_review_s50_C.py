"""Review s50 (C): `SBNConvNet.forward` and `unroll` check `params` as `SBNMLP.forward` does (a bias [1] was broadcast to
every output, a wrong kernel gave a torch error), `SBNConvNet.layer` checks `k` as `SBNMLP.layer` does, and
`SBNConvNet.sample_params` refuses `True` and `1.0` as `SBNMLP.sample_params` does."""
import numpy as np
import pytest
import torch
from sbn_estimators.core import *
from sbn_estimators.sbn import *
from sbn_estimators.sbn_conv import *


def fails(f, *contains):
    with pytest.raises(ValueError) as e: f()
    for c in contains: assert c in str(e.value), (c, str(e.value))
    return str(e.value)


@pytest.fixture
def small():
    torch.manual_seed(0)
    net = SBNConvNet((1, 4, 4), [(2, 3, 1, 1)], 3)
    return net, torch.randn(2, 1, 4, 4), [tuple(t.detach().clone() for t in pr) for pr in net.layer_params()]


def test_forward_and_unroll_check_params(small):
    net, x, p = small
    head_b1 = [p[0], (p[1][0], p[1][1][:1].clone())]   # a head bias [1]: was broadcast to all 3 outputs
    for f in (lambda q: net(x, None, q), lambda q: unroll(net, q)):
        fails(lambda: f(head_b1), "params[1][1] (b of layer 1): expected shape [3] (one set of parameters here, no copies), got [1]")
        fails(lambda: f([(p[0][0], p[0][1][:1].clone()), p[1]]), "params[0][1] (b of layer 0): expected shape [2]")
        fails(lambda: f([(p[0][0][:, :, :2], p[0][1]), p[1]]), "params[0][0] (W of layer 0): expected shape [2, 1, 3, 3]", "got [2, 1, 2, 3]")
        fails(lambda: f(p[:1]), "params: expected 2 (W, b) pairs, one per layer", "got 1 item(s)")
        fails(lambda: f('abc'), "params: expected 2 (W, b) pairs", "got str")
        fails(lambda: f([(p[0][0].double(), p[0][1].double()), p[1]]), "params[0][0] (W of layer 0): expected the model's torch.float32")
        fails(lambda: f([(W[None], b[None]) for W, b in p]), "SBNConvNet takes unbatched parameters")
    # what fits still runs, and the same as the model's own parameters
    torch.manual_seed(1); a = net(x, None, p)
    torch.manual_seed(1); test = net(x)
    assert torch.equal(a, test)
    mlp, fc = unroll(net, p); assert [tuple(W.shape) for W, _ in fc] == [(32, 16), (3, 32)]


def test_layer_checks_k(small):
    net, x, p = small
    for k in (True, -1, 1, 2, 1.0, torch.tensor(True)):
        fails(lambda: net.layer(k, x), "k must be the index of a binary layer, an integer in 0..0 (1 binary layer; the head is `head`), got")
    assert torch.equal(net.layer(np.int64(0), x), net.layer(0, x))
    net2 = SBNConvNet((1, 6, 6), [(2, 3, 1, 0), (3, 3, 1, 0)], 2)   # the same message as SBNMLP.layer
    mlp = SBNMLP([4, 3, 3, 2])
    for k in (True, -1, 2, 1.0):
        assert fails(lambda: net2.layer(k, torch.zeros(1, 1, 6, 6))) == fails(lambda: mlp.layer(k, torch.zeros(1, 4)))


def test_sample_params_refuses_non_integer_n(small):
    net, x, p = small
    for n in (True, 1.0, 0, 2):
        fails(lambda: net.sample_params(n), "SBNConvNet takes unbatched parameters: sample_params(n) needs n = 1, got " + repr(n))
    assert [tuple(t.shape) for pr in net.sample_params(np.int64(1)) for t in pr] == [(2, 1, 3, 3), (2,), (3, 32), (3,)]
