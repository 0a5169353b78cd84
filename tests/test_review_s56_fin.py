"""Review of the day's change (s56): (1) an evaluated binary-weight layer keeps its binarizer's backward on forked
generators, as `BinaryActivation` does, so a gradient taken in evaluation leaves the random stream as a pass without one
(it drew from the main stream); (2) under a `torch.func.vmap` that allows draws (randomness 'same' or 'different') an
evaluated unit keeps its backward (it gave a zero gradient); (3) double_cv, rebar, relax and rodeo refuse torch.func
transforms with a ValueError (torch's internal errors before), as psa and muprop do; (4) a custom noise bearing a
registered name shows itself in the SBNs' repr and in gradient_report (it showed the borrowed name)."""
import pytest, torch
import torch.nn.functional as F
from torch import nn
from sbn_estimators.core import LogisticNoise
from sbn_estimators.sbn import SBNMLP, cos_data, init_sbn_
from sbn_estimators.sbn_conv import SBNConvNet
from sbn_estimators.estimators import estimator, estimators_from_spec
from sbn_estimators.binary_weights import BinaryWeightLinear
from sbn_estimators.layers import BinaryActivation
from sbn_estimators.gradeval import gradient_report

torch.set_num_threads(1)


def fails(f, *contains):
    with pytest.raises(ValueError) as e: f()
    for c in contains: assert c in str(e.value), (c, str(e.value))


# ---- 1. the weight path draws on forked generators
def _weights_model():
    torch.manual_seed(0)
    return nn.Sequential(BinaryWeightLinear(4, 5, binarize=estimator('concrete')), BinaryActivation('concrete', eval_mode='sample'), nn.Linear(5, 1)).eval()


def test_eval_weights_gradient_leaves_the_random_stream():
    m = _weights_model()
    x = torch.randn(3, 4)
    outs, states = [], []
    for grad in (True, False):
        torch.manual_seed(1)
        with torch.set_grad_enabled(grad):
            o = [m(x) for _ in range(2)]
        outs.append(torch.stack([t.detach() for t in o])); states.append(torch.get_rng_state())
    assert torch.equal(outs[0], outs[1]) and torch.equal(states[0], states[1])


def test_eval_weights_keep_the_binarizer_backward():
    m = _weights_model()
    m(torch.randn(3, 4)).sum().backward()
    assert m[0].weight.grad is not None and m[0].weight.grad.abs().sum() > 0


# ---- 2. vmap that allows draws
@pytest.mark.parametrize('randomness', ['same', 'different'])
def test_eval_unit_backward_under_vmap(randomness):
    torch.manual_seed(0)
    lin, head = nn.Linear(3, 4), nn.Linear(4, 1)
    unit = BinaryActivation('st', eval_mode='sample').eval()   # ST's slope 2F'(a) does not depend on the sampled state
    f = lambda xx: head(unit(lin(xx))).sum()
    x = torch.randn(5, 3)
    got = torch.func.vmap(torch.func.grad(f), randomness=randomness)(x)
    want = []
    for xi in x:
        xi = xi.clone().requires_grad_(); f(xi).backward(); want.append(xi.grad)
    assert got.abs().sum() > 0
    torch.testing.assert_close(got, torch.stack(want))


# ---- 3. torch.func refused with a ValueError
@pytest.mark.parametrize('name', ['double_cv', 'rebar', 'relax', 'rodeo:n=2,hidden=4'])
def test_func_grad_refused(name):
    torch.manual_seed(0)
    net = SBNMLP([3, 4, 4, 1], loss='logistic')
    X = torch.randn(5, 3, dtype=torch.float64); Y = torch.randint(0, 2, (5, 1)).double() * 2 - 1
    P = [tuple(t.detach() for t in pair) for pair in net.layer_params()]
    e = estimators_from_spec(name)[0]
    fails(lambda: torch.func.grad(lambda p: e.surrogate(net, X, Y, params=p))(P), "cannot run inside a torch.func transform", e.name)
    e.surrogate(net, X, Y).backward()   # the way that works


# ---- 4. a custom noise shows itself
class Wide(LogisticNoise):
    "A logistic of scale 2 under the name 'logistic'."
    def cdf(self, a): return torch.sigmoid(a / 2)
    def pdf(self, a): return torch.sigmoid(a / 2) * torch.sigmoid(-a / 2) / 2
    def log_cdf(self, a): return F.logsigmoid(a / 2)
    def _mean(self, w): return torch.tanh(w / 4)
    def sample(self, shape, device=None, dtype=None): return 2 * super().sample(shape, device, dtype)
    def __repr__(self): return 'Wide()'


def test_repr_names_a_custom_noise():
    assert "noise='logistic'" in repr(SBNMLP([2, 3, 1]))
    assert "noise=Wide()" in repr(SBNMLP([2, 3, 1], noise=Wide()))
    assert "noise=Wide()" in repr(SBNConvNet((1, 3, 3), [(2, 2, 1, 0)], 2, noise=Wide()))


def test_gradient_report_names_a_custom_noise():
    X, Y = cos_data()
    net = init_sbn_(SBNMLP([2, 3, 1], noise=Wide()), X, seed=0)
    r = gradient_report(net, X[::50], Y[::50], [estimator('arm')], samples=20)
    assert r['noise'] == 'Wide()'
    assert gradient_report(init_sbn_(SBNMLP([2, 3, 1]), X, seed=0), X[::50], Y[::50], 'arm', samples=20)['noise'] == 'logistic'
