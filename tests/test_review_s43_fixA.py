"""Review s43 (fix A): one positive-integer checker (`core.check_count`) serves bench, mismatch and binary_optimizers;
binary_moments refuses non-finite means and variances; dirichlet_copula refuses bool and bad shape entries; REBAR/RELAX's
hard path keeps a NaN pre-activation NaN (as `sample_states`) instead of a state -1; set_proxy gives BinaryDuo's binary
`Quantize` units any deterministic local estimator's backward (only a BinaryActivation's forward must be sign(a); since
review s44 a sampling proxy is refused for a Quantize too, tests/test_review_s44_fixF.py)."""
import math, re
import numpy as np, pytest, torch
from torch import nn
import sbn_estimators.bench as bench, sbn_estimators.mismatch as mm, sbn_estimators.binary_optimizers as bo
from sbn_estimators.core import sample_states
from sbn_estimators.sbn import SBNMLP
from sbn_estimators.estimators import estimator
from sbn_estimators.adf import binary_moments, adf_moments
from sbn_estimators.unbiased import dirichlet_copula
from sbn_estimators.layers import BinaryActivation
from sbn_estimators.binaryduo import Quantize, QuantMLP
from sbn_estimators.mismatch import set_proxy, proxy_estimator, mismatch


def fails(f, message):
    with pytest.raises(ValueError) as e: f()
    assert message in str(e.value), str(e.value)


# ---- 1. one positive-integer checker

def test_check_count():
    from sbn_estimators.core import check_count
    assert check_count('n', 3) == 3 and type(check_count('n', np.int64(3))) is int and type(check_count('n', np.uint8(2))) is int
    assert check_count('n', None, 'all') is None and check_count('n', 4, 'all') == 4
    for bad in (0, -1, 2.5, True, False, '3', None, np.float64(2.)):
        fails(lambda: check_count('n', bad), f"n must be a positive integer, got {bad!r}")
    fails(lambda: check_count('n', 0, 'all'), "n must be a positive integer (None: all), got 0")


def test_bench_mismatch_and_optimizers_use_it():
    assert not hasattr(bench, '_positive') and not hasattr(mm, '_check_count') and not hasattr(bo, '_count')
    fails(lambda: bench.bench_problem('fc', batch=True), "batch must be a positive integer (None: the network's default), got True")
    assert len(bench.bench_problem('fc', batch=np.int64(3))[1]) == 3
    f = lambda ps: (ps[0] ** 2).sum(-1)
    fails(lambda: mm.smoothed_grad(f, [torch.zeros(2)], samples=True), "samples must be a positive integer, got True")
    fails(lambda: mm.smoothed_grad(f, [torch.zeros(2)], chunk=0), "chunk must be a positive integer, got 0")
    p = lambda: [{'params': [nn.Parameter(torch.ones(2))], 'binary': True}]
    fails(lambda: bo.BayesBiNN(p(), train_size=torch.tensor(0)), "train_size must be a positive integer, got 0")
    fails(lambda: bo.BayesBiNN(p(), train_size=True), "train_size must be a positive integer, got True")
    for n in (torch.tensor(5), np.int64(5)):
        opt = bo.BayesBiNN(p(), train_size=n)
        assert type(opt.param_groups[0]['train_size']) is int
        opt.add_param_group({'params': [nn.Parameter(torch.ones(2))], 'binary': True, 'train_size': torch.tensor(7)})
        assert opt.param_groups[1]['train_size'] == 7 and type(opt.param_groups[1]['train_size']) is int
    fails(lambda: opt.add_param_group({'params': [nn.Parameter(torch.ones(2))], 'binary': True, 'train_size': 0}),
          "train_size of param group 2 must be a positive integer, got 0")


# ---- 2. binary_moments at the public boundary

def test_binary_moments_refuses_non_finite_inputs():
    mu, ok = torch.tensor([0.5, -1.], dtype=torch.float64), torch.tensor([1., 2.], dtype=torch.float64)
    for bad in (math.nan, math.inf):
        fails(lambda: binary_moments(mu, torch.tensor([1., bad], dtype=torch.float64)), "var has 1 non-finite value")
        fails(lambda: binary_moments(torch.tensor([bad, 0.], dtype=torch.float64), ok), "mu has 1 non-finite value")
    fails(lambda: binary_moments(mu, math.nan), "var has 1 non-finite value")
    fails(lambda: binary_moments(mu, torch.tensor([-5., 1.], dtype=torch.float64)), "var: the pre-activation variances must be >= 0, got -5")
    m, v = binary_moments(mu, ok)
    assert torch.isfinite(m).all() and torch.isfinite(v).all()


def test_adf_moments_stays_unchecked_inside():
    "Inside adf_moments the variances are >= 0 by construction: its default unit is the unchecked map (no sync per layer)."
    net = SBNMLP([3, 4, 2]).double()
    x = torch.randn(5, 3, dtype=torch.float64)
    mu, var = adf_moments(net, x)
    assert torch.isfinite(mu).all() and (var >= 0).all()
    with torch.no_grad(): net.layers[1].weight[0, 0] = math.nan   # NaN weights propagate, as in every estimator
    assert adf_moments(net, x)[0].isnan().any()


# ---- 3. dirichlet_copula's shape

@pytest.mark.parametrize('shape', [True, False, (2, True), (2, -1), -1, (2.,), 2.5, '3', None, (2, None)])
def test_dirichlet_copula_refuses_bad_shapes(shape):
    fails(lambda: dirichlet_copula(3, shape), "shape must be")


def test_dirichlet_copula_takes_int_shapes():
    for n in (2, 3):
        assert dirichlet_copula(n, torch.Size([2, 3])).shape == (n, 2, 3)
        assert dirichlet_copula(n, (np.int64(2), 0)).shape == (n, 2, 0)
        assert dirichlet_copula(n, [4]).shape == (n, 4) and dirichlet_copula(n, ()).shape == (n,)
        assert dirichlet_copula(n, np.int64(4)).shape == (n, 4)


# ---- 4. REBAR/RELAX: a NaN pre-activation is no confident -1

@pytest.mark.parametrize('name', ['rebar', 'relax'])
def test_rebar_keeps_nan_states_nan(name):
    torch.manual_seed(0)
    net = SBNMLP([3, 4, 1]).double()
    with torch.no_grad(): net.layers[0].weight[0, 0] = math.nan   # unit 0 of every example: a NaN pre-activation
    x, y = torch.randn(5, 3, dtype=torch.float64), torch.ones(5, 1, dtype=torch.float64)
    seen, head = [], net.head
    def spy(h, params=None):
        seen.append(h.detach().clone()); return head(h, params)
    net.head = spy
    est = estimator(name, tune=False)
    est.surrogate(net, x, y)                              # no error: NaN propagates, as for reinforce and the rest
    h = seen[0]
    assert h[:, 0].isnan().all() and ((h[:, 1:] == 1) | (h[:, 1:] == -1)).all(), h
    ref = sample_states(torch.tensor([math.nan, 3.], dtype=torch.float64))
    assert ref[0].isnan()                                 # what sample_states does


# ---- 5. set_proxy: Quantize slots take any deterministic local estimator's backward

def test_set_proxy_gives_quantize_any_backward():
    q = nn.Sequential(nn.Linear(4, 3), Quantize(1, proxy='clipped_st'), nn.Linear(3, 2))
    for spec in ('mean_field', 'progressive_sign'):   # as Quantize(1, proxy=spec) takes them
        set_proxy(q, spec)
        assert q[1].proxy.name == Quantize(1, proxy=spec).proxy.name
    fails(lambda: set_proxy(q, 'concrete'), "proxy 'concrete' samples (stochastic)")   # review s44: as Quantize(1, proxy='concrete') refuses it
    assert q[1].proxy.name == 'progressive_sign'
    b = nn.Sequential(nn.Linear(4, 3), BinaryActivation(proxy_estimator('clipped_st')), nn.Linear(3, 2))
    fails(lambda: set_proxy(b, 'mean_field'), "proxy 'mean_field': its forward is not sign(a)")
    both = nn.Sequential(b, Quantize(1, proxy='st'))   # a BinaryActivation slot keeps the check: nothing is changed
    fails(lambda: set_proxy(both, 'mean_field'), "its forward is not sign(a)")
    assert both[1].proxy.name == 'st' and both[0][1].est.name == 'clipped_st'


def test_mismatch_on_quantize_takes_deterministic_backwards():
    torch.manual_seed(0)
    net = QuantMLP([4, 6, 3], lambda: Quantize(1))
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    r = mismatch(net, x, y, proxies=['mean_field', 'clipped_st'], samples=8, chunk=8)
    assert set(r['cos']) == {'mean_field', 'clipped_st'}
    assert net[2].proxy is None                           # restored
    fails(lambda: mismatch(net, x, y, proxies=['concrete'], samples=8), "proxy 'concrete': its forward samples (stochastic)")
