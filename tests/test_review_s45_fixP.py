"""Review s45 (fix P): the proxies of ReSTE (at 0), ApproxSign and RBNN (at ±inf) have finite derivatives; binary-weight layers
whose binarizer is a local estimator without a deterministic sign(w) forward evaluate 'det' with sign(w) (and the trainer knows
they are not deterministic as built); the surrogate values of arm, disarm, arms, ugc and rodeo are finite at infinite
pre-activations; draw_input_estimates checks its seed; a straight-through estimator's `stochastic` follows `deterministic`;
a local estimator's `load_state_dict` checks the state as the network-level estimators do."""
import math
from collections import OrderedDict
import numpy as np, pytest, torch
from torch import nn
from sbn_estimators.estimators import estimator, draw_estimates, draw_input_estimates, LocalEstimator
from sbn_estimators.straight_through import StraightThrough, sign_pm
from sbn_estimators.reste import reste_proxy, reste_slope
from sbn_estimators.sbn import SBNMLP, cos_data, init_sbn_
from sbn_estimators.layers import local_estimators, binary_eval_mode, export_binary, BinaryActivation
from sbn_estimators.binary_weights import BinaryWeightLinear
from sbn_estimators.mismatch import proxy_estimator

torch.set_num_threads(1)
DTYPES = (torch.float64, torch.float32, torch.bfloat16, torch.float16)


def fails(f, message):
    with pytest.raises(ValueError) as e: f()
    assert message in str(e.value), str(e.value)


def proxy_grad(f, a):
    a = a.detach().clone().requires_grad_()
    f(a).sum().backward()
    return a.grad


# ---- 1. ReSTE's proxy at 0

@pytest.mark.parametrize('dtype', DTYPES)
def test_reste_proxy_derivative_at_zero(dtype):
    z = torch.tensor([0., 0.05, -0., 1.], dtype=dtype)
    g = proxy_grad(lambda a: reste_proxy(a, 3.0), z)                   # was [nan, 4.64, nan, 0.333]
    assert torch.equal(g, reste_slope(z, 3.0)), (g, reste_slope(z, 3.0))
    est = estimator('reste')
    assert torch.equal(proxy_grad(est.proxy, z), est.slope(z))


# ---- 2. proxies at ±inf, 0 and the kinks

def _st_estimators():
    out = []
    for n in local_estimators():
        e = estimator(n)
        if isinstance(e, StraightThrough): out.append(n)
    return out


@pytest.mark.parametrize('name', _st_estimators())
@pytest.mark.parametrize('dtype', DTYPES)
def test_proxy_derivatives_finite(name, dtype):
    est = estimator(name)
    kinks = {'approx_sign': [1.], 'clipped_st': [1.], 'reste': [0.1, 1.5], 'rbnn': [math.sqrt(2) / est.t] if hasattr(est, 't') else []}
    vals = [0., 30., 1e4, 65504., 1e38, math.inf] + kinks.get(name, [])
    a = torch.tensor(vals + [-v for v in vals], dtype=torch.float32).to(dtype)
    g = proxy_grad(est.proxy, a)
    assert g.isfinite().all(), (name, dtype, g)
    far = a.float().abs() > 1e5                                      # beyond every support (and the infinities): slope 0
    assert torch.equal(g[far], est.slope(a)[far]), (name, dtype)


def test_approx_sign_and_rbnn_proxy_at_infinity():
    a = torch.tensor([math.inf, -math.inf, 0.5], dtype=torch.float64)
    assert torch.equal(proxy_grad(estimator('approx_sign').proxy, a), torch.tensor([0., 0., 1.], dtype=torch.float64))   # was nan, nan
    r = estimator('rbnn'); r.set_t(1.)
    assert torch.equal(proxy_grad(r.proxy, a), r.slope(a))
    assert torch.equal(proxy_grad(estimator('approx_sign').proxy, torch.tensor([1e38]).half()), torch.zeros(1).half())


# ---- 3. binary weights with a local estimator that has no deterministic sign(w) forward

SIGNLESS = ('zgr', 'concrete', 'mean_field', 'decoupled_st', 'gumbel_softmax', 'progressive_sign')


@pytest.mark.parametrize('name', SIGNLESS)
def test_det_mode_weights_are_signs(name):
    torch.manual_seed(0)
    m = nn.Sequential(BinaryWeightLinear(4, 3, binarize=estimator(name)), BinaryActivation('st'), nn.Linear(3, 2))
    x = torch.randn(6, 4)
    m.eval()
    with binary_eval_mode(m, 'det'):
        o1, o2, w = m(x), m(x), m[0].binary_weight()
        assert torch.equal(o1, o2)                                     # was sampled (zgr, concrete, decoupled_st)
        assert torch.equal(w, sign_pm(m[0].weight.detach()))           # was tanh(w/2) (mean_field), relaxed (concrete)
        m[0].weight.grad = None
        m(x).sum().backward()                                          # the binarizer's backward into the latents
        assert m[0].weight.grad is not None and m[0].weight.grad.isfinite().all()
    assert m[0]._det_eval is False                                      # restored
    export_binary(m, check_x=x)                                         # was: "the exported network's deterministic predictions differ"


def test_det_mode_keeps_binarizer_backward():
    torch.manual_seed(0)
    lay = BinaryWeightLinear(4, 3, bias=False, binarize=estimator('mean_field'), dtype=torch.float64)
    x = torch.randn(5, 4, dtype=torch.float64)
    with binary_eval_mode(lay, 'det'): lay(x).sum().backward()
    g_det = lay.weight.grad.clone()
    lay.weight.grad = None
    w = lay.weight.detach().clone().requires_grad_()
    (x @ estimator('mean_field')(w).T).sum().backward()
    assert torch.equal(g_det, w.grad)


def test_det_mode_other_binarizers_unchanged():
    from sbn_estimators.biper import BiPer
    torch.manual_seed(0)
    sine = BinaryWeightLinear(4, 3, binarize=BiPer(binarize=False))   # a binarizer of its own: forwards as defined (its sine stage)
    with binary_eval_mode(sine, 'det'): assert torch.equal(sine.binary_weight(), sine.binarize(sine.weight))
    st = BinaryWeightLinear(4, 3, binarize=estimator('reste'))         # straight-through: its deterministic switch
    with binary_eval_mode(st, 'det'):
        assert st.binarize.deterministic and torch.equal(st.binary_weight(), sign_pm(st.weight.detach()))
    assert st.binarize.deterministic is False


def test_evaluates_det_knows_signless_binarizers():
    from sbn_estimators.train import _evaluates_det
    acts = lambda: BinaryActivation('st', eval_mode='det')
    for name in SIGNLESS:
        m = nn.Sequential(BinaryWeightLinear(4, 3, binarize=estimator(name)), acts(), nn.Linear(3, 2))
        det = name == 'progressive_sign'   # deterministic: sign(w) in evaluation, sampled or not (fix W); the others sample sign(w - Z)
        assert _evaluates_det(m, estimator('st')) is det, name       # was True: val_det_acc chosen for sampled weights
    m = nn.Sequential(BinaryWeightLinear(4, 3, binarize=estimator('reste', deterministic=True)), acts(), nn.Linear(3, 2))
    assert _evaluates_det(m, estimator('st')) is True


# ---- 4. surrogate values at infinite pre-activations

@pytest.mark.parametrize('name', ('arm', 'disarm', 'arms', 'ugc', 'rodeo'))
@pytest.mark.parametrize('sign', (1., -1.))
def test_surrogate_value_finite_at_infinite_preactivation(name, sign):
    torch.manual_seed(0)
    net = SBNMLP([1, 2, 2, 1], dtype=torch.float16)
    with torch.no_grad(): net.layers[0].weight.fill_(sign * 4e4); net.layers[0].bias.fill_(sign * 4e4)   # a = 8e4: inf in float16
    x, y = torch.ones(2, 1, dtype=torch.float16), torch.tensor([[1.], [-1.]], dtype=torch.float16)
    torch.manual_seed(1)
    s = estimator(name).surrogate(net, x, y)
    assert s.isfinite(), s                                               # was nan
    s.backward()
    assert all(p.grad.isfinite().all() for p in net.parameters())


# ---- 5. draw_input_estimates' seed

@pytest.fixture
def toy():
    X, Y = cos_data()
    return init_sbn_(SBNMLP([2, 3, 1]), X, seed=1), X[::40], Y[::40]


@pytest.mark.parametrize('seed', (1.5, True, 'a', -1, 2**32, None))
def test_draw_input_estimates_seed(toy, seed):
    net, X, Y = toy
    fails(lambda: draw_input_estimates(net, X, Y, estimator('st'), 2, seed=seed), f"seed must be an integer in 0..{2**32 - 1}, got {seed!r}")


def test_draw_input_estimates_numpy_seed(toy):
    net, X, Y = toy
    assert torch.equal(draw_input_estimates(net, X, Y, estimator('st'), 2, seed=np.int64(3)),
                       draw_input_estimates(net, X, Y, estimator('st'), 2, seed=3))


# ---- 6. `stochastic` follows `deterministic`

def test_stochastic_follows_deterministic(toy):
    net, X, Y = toy
    e = estimator('st')
    assert e.stochastic is True
    e.deterministic = True
    assert e.stochastic is False                                        # was True: stale
    g = draw_estimates(net, X, Y, e, 3)
    assert all(torch.equal(v[0], v[1]) for v in g.values())
    lay = BinaryWeightLinear(3, 2, binarize=estimator('reste'))
    with binary_eval_mode(lay, 'det'): assert lay.binarize.stochastic is False
    assert lay.binarize.stochastic is True
    p = proxy_estimator(estimator('clipped_st'))                        # a copy made deterministic
    assert p.deterministic and not p.stochastic


# ---- 7. a local estimator's load_state_dict

def test_local_estimator_load_state_dict():
    e = estimator('st')
    fails(lambda: e.load_state_dict({'ema': torch.zeros(1)}), "estimator 'st' learns nothing, but the state holds ema")   # was RuntimeError
    fails(lambda: e.load_state_dict([]), "state must be a dict (what state_dict() gives), got list")                   # was TypeError
    e.load_state_dict({}); e.load_state_dict(e.state_dict()); e.load_state_dict(OrderedDict())


def test_local_estimator_with_a_buffer_loads_its_state():
    class Scaled(StraightThrough):
        def __init__(self, noise='logistic', deterministic=False):
            super().__init__(noise, deterministic)
            self.register_buffer('c', torch.ones(1))
        def proxy(self, a): return self.c * a
        def slope(self, a): return self.c.expand_as(a)
    a, b = Scaled(), Scaled()
    a.c.fill_(3.)
    b.load_state_dict(a.state_dict())
    assert b.c.item() == 3.
    fails(lambda: b.load_state_dict([1]), "state must be a dict")
