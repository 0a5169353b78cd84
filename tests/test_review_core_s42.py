"""Review of core, stats, sbn and exact (s42): exact gradients at the ends of a bounded noise's support, z-tests that one
wild estimate cannot blind, the exact-enumeration memory of wide heads, the float64 logistic loss past softplus's
threshold, explicit parameters checked, autocast dtypes, noise equality, {0,1} conversion overflow, 16-bit densities,
and argument errors that name the argument."""
import math, tempfile
import numpy as np
import pytest, torch
from torch import nn
from sbn_estimators.core import *
from sbn_estimators.stats import *
from sbn_estimators.sbn import *
from sbn_estimators.exact import *

torch.set_num_threads(1)
f64 = torch.float64


def fails(f, *parts):
    with pytest.raises(ValueError) as e: f()
    for p in parts: assert p in str(e.value), (p, str(e.value))


# 1. exact gradients at |a| = 1 under the bounded noises
@pytest.mark.parametrize('noise', ['uniform', 'triangular'])
def test_exact_gradient_finite_where_pre_activations_hit_the_support_ends(noise):
    X, Y = cos_data()
    for seed in range(3):
        net = init_sbn_(SBNMLP([2, 4, 3, 1], noise=noise), X[[0, 150]], seed=seed)   # normalised over 2 rows: every a is ±1
        g = torch.autograd.grad(exact_loss(net, X[[0, 150]], Y[[0, 150]]), list(net.parameters()))
        assert all(t.isfinite().all() for t in g), (noise, seed)


@pytest.mark.parametrize('noise', ['uniform', 'triangular'])
@pytest.mark.parametrize('b0', [-1., 1.])
def test_exact_gradient_at_the_support_end_is_the_outside_derivative(noise, b0):
    "W = 0, b = ±1: the unit is deterministic, the loss flat outside [-1, 1]: every first-layer gradient is 0, the head's as at b = ±3."
    x, y = torch.zeros(1, 1, dtype=f64), torch.ones(1, 1, dtype=f64)
    def grads(b):
        net = SBNMLP([1, 1, 1], noise=noise)
        with torch.no_grad():
            net.layers[0].weight.zero_(); net.layers[0].bias.fill_(b); net.layers[1].weight.fill_(1.); net.layers[1].bias.zero_()
        return [t.item() for t in torch.autograd.grad(exact_loss(net, x, y), list(net.parameters()))]
    g, far = grads(b0), grads(3 * b0)
    assert g[:2] == [0., 0.] and g == pytest.approx(far, abs=1e-15), (g, far)


def test_bounded_log_cdf_gradient_at_the_ends():
    a = torch.tensor([-2., -1., 1., 2.], dtype=f64, requires_grad=True)
    for name in ('uniform', 'triangular'):
        g, = torch.autograd.grad(NOISES[name].log_cdf(a).sum(), a)
        assert g.tolist() == [0., 0., 0., 0.], name
    nan = torch.tensor([math.nan], dtype=f64)
    assert all(NOISES[n].log_cdf(nan).isnan().all() for n in NOISES)   # NaN is not -inf


# 2. the rounding allowance of z_scores is on the target's scale
def test_one_wild_estimate_does_not_hide_a_bias():
    torch.manual_seed(0)
    est = torch.stack([torch.randn(1000, dtype=f64), 1.05 + 0.01 * torch.randn(1000, dtype=f64)], 1)
    t = torch.tensor([0., 1.], dtype=f64)
    assert z_test({'g': est}, {'g': t})[2] is False
    est[17, 0] = 1e14
    z, thr, ok = z_test({'g': est}, {'g': t})
    assert not ok and z > 100, z
    assert z_scores(est, t)[1] > 100


# 3. memory of exact enumeration with wide heads
def test_wide_heads_estimates():
    ce = SBNMLP([2, 14, 100], loss='cross_entropy')
    assert exact_memory(ce, 1000, grad=False) < 1e9                        # measured 0.41 GB; was estimated 33 GB
    X = torch.randn(1000, 2, dtype=f64); y = torch.randint(0, 100, (1000,))
    with torch.no_grad(): exact_loss(ce, X, y, max_bytes=1e9)               # not refused
    assert exact_memory(SBNMLP([2, 14, 4], loss='cross_entropy'), 1000, grad=False) < 0.6e9   # measured 0.40 GB; was 1.48 GB
    assert exact_memory(SBNMLP([2, 12, 100]), 1000, grad=False) < 0.5e9                      # chunked by m: was 6.6 GB measured
    assert exact_memory(SBNMLP([2, 12, 100], loss='cross_entropy'), 1000) < 0.5e9             # its backward too: was 3.4 GB


def test_chunked_wide_heads_give_the_same_losses():
    "A 2-14-40 head's table is chunked by m (25 examples at a time): 300 examples give the losses of blocks of 7."
    from sbn_estimators.exact import _chunk, _width
    torch.manual_seed(0)
    X = torch.randn(300, 2, dtype=f64)
    for loss, y, grad in (('logistic', torch.randint(0, 2, (300, 40)).double() * 2 - 1, False), ('cross_entropy', torch.randint(0, 40, (300,)), True)):
        net = SBNMLP([2, 14, 40], loss=loss)
        assert _chunk(net.binary_sizes, _width(net, grad)) == 25
        with torch.set_grad_enabled(grad):
            whole = exact_loss(net, X, y, reduction='none')
            parts = torch.cat([exact_loss(net, xb, yb, reduction='none') for xb, yb in zip(X.split(7), y.split(7))])
        torch.testing.assert_close(whole, parts, rtol=1e-12, atol=0)
    assert _width(SBNMLP([2, 14, 40], loss='cross_entropy'), False) == 1   # without a backward pass cross-entropy's table is [2^n_L, b]


# 4. logistic loss in float64 beyond softplus's default threshold
def test_logistic_loss_float64_closed_form():
    margins = [21., 25., 800., -800., 0., -21., 39.9, 45.]
    eta = torch.tensor(margins, dtype=f64)[:, None].requires_grad_()
    y = torch.ones(len(margins), 1, dtype=f64)
    l = logistic_loss(eta, y)
    g, = torch.autograd.grad(l.sum(), eta)
    for m, li, gi in zip(margins, l.tolist(), g.flatten().tolist()):
        ref = math.log1p(math.exp(-m)) if m > 0 else -m + math.log1p(math.exp(m))   # log(1 + e^-m)
        rg = -1 / (1 + math.exp(m)) if m < 700 else -math.exp(-m)                     # d/d eta = -sigma(-m)
        assert li == pytest.approx(ref, rel=4e-16, abs=1e-300), (m, li, ref)
        assert gi == pytest.approx(rg, rel=1e-15, abs=1e-300), (m, gi, rg)
    assert logistic_loss(eta.detach(), -y).tolist() == pytest.approx([math.log1p(math.exp(m)) if m < 700 else m for m in margins], rel=4e-16)


# 5. explicit parameters
def test_exact_loss_refuses_non_finite_params():
    net = SBNMLP([2, 3, 1])
    x, y = torch.randn(4, 2, dtype=f64), torch.ones(4, 1, dtype=f64)
    P = [tuple(p.detach().clone() for p in pair) for pair in net.layer_params()]
    for bad in (math.nan, math.inf):
        fails(lambda: exact_loss(net, x, y, params=[(P[0][0] * bad, P[0][1]), P[1]]), "params[0][0] (W of layer 0) has 6 non-finite value(s)")
    fails(lambda: check_params(net, [P[0], (P[1][0], P[1][1] * math.nan)], finite=True), "params[1][1] (b of layer 1) has 1 non-finite")
    assert check_params(net, [P[0], (P[1][0], P[1][1] * math.nan)]) is not None   # the per-step check reads no values


def test_forward_checks_params_shapes():
    net = SBNMLP([2, 3, 1])
    x = torch.randn(4, 2, dtype=f64)
    (W0, b0), (W1, b1) = net.layer_params()
    fails(lambda: net(x, params=[(W0, b0[:1]), (W1, b1)]), "params[0][1] (b of layer 0): expected shape [3], or [n, 3] for n copies, got [1]")
    fails(lambda: net(x, params=[(W0, b0)]), "params: expected 2 (W, b) pairs")
    assert net(x, params=net.sample_params(5)).shape == (5, 4, 1)


# 6. autocast and float64
def test_check_inputs_refuses_float64_on_one_side_under_autocast():
    net = SBNMLP([2, 4, 3, 2], dtype=torch.float32, loss='cross_entropy')
    x, y = torch.randn(6, 2), torch.randint(0, 2, (6,))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        fails(lambda: net(x.double()), "x: inputs of dtype torch.float64 do not fit a torch.float32 network under autocast", "pass x.to(torch.float32)")
        assert exact_loss(net, x.double(), y).item() == exact_loss(net, x, y).item()   # enumeration casts its inputs itself
        fails(lambda: check_inputs(x, (2,), torch.float64), "x: inputs of dtype torch.float32 do not fit a torch.float64 network")
        assert net(x.bfloat16()).shape == (6, 2) and net(x).shape == (6, 2)   # what autocast casts


# 7. noise equality by class
def test_noise_subclass_is_another_noise():
    class Wide(LogisticNoise):
        def cdf(self, a): return torch.sigmoid(a / 2)
    assert Wide() != NOISES['logistic'] and NOISES['logistic'] != Wide() and Wide() == Wide()
    assert LogisticNoise() == NOISES['logistic'] and get_noise(Wide()).name == 'logistic'
    X, Y = cos_data(5)
    with tempfile.TemporaryDirectory() as d:
        fails(lambda: save_sbn(f'{d}/w.npz', SBNMLP([2, 3, 1], noise=Wide()), X, Y), "got noise=Wide()")
        net, X2, Y2 = load_sbn(save_sbn(f'{d}/ok.npz', SBNMLP([2, 3, 1]), X, Y))
        assert net.noise == NOISES['logistic'] and torch.equal(X2, X)


# 8. sbn_from_01 overflow
def test_sbn_from_01_refuses_overflow():
    W = [(torch.tensor([[1e39, 1.]], dtype=f64), torch.zeros(1, dtype=f64)), (torch.ones(1, 1, dtype=f64), torch.zeros(1, dtype=f64))]
    fails(lambda: sbn_from_01(W, dtype=torch.float32), "weights[0]: W of layer 0 overflows torch.float32", "pass dtype=torch.float64")
    big = [(torch.ones(2, 2, dtype=f64), torch.zeros(2, dtype=f64)), (torch.full((1, 2), 1.5e308, dtype=f64), torch.zeros(1, dtype=f64))]
    fails(lambda: sbn_from_01(big), "weights[1]: b of layer 1 overflows torch.float64 in ±1 states")


# 9. densities
def test_normal_pdf_bfloat16_and_uniform_pdf_nan():
    a = torch.arange(0, 13, 1 / 64, dtype=f64).bfloat16().unique()
    ref = torch.exp(-0.5 * a.double() ** 2) / math.sqrt(2 * math.pi)
    assert (NOISES['normal'].pdf(a).double() / ref - 1).abs().max() < 2 ** -8   # bfloat16's rounding of the result; was 22 %
    nan = torch.tensor([math.nan, 0.5, 2.])
    for n in NOISES.values(): assert n.pdf(nan)[0].isnan(), n.name
    assert NOISES['uniform'].pdf(nan)[1:].tolist() == [0.5, 0.]


# 10. argument errors
def test_argument_errors_name_the_argument():
    fails(lambda: binary_states(63), "n must be an integer >= 0 and <= 62", "got 63")
    assert binary_states(0).shape == (1, 0)
    g = torch.tensor([1., 0.3], dtype=f64); s = g + torch.randn(100, 2, dtype=f64)
    fails(lambda: z_test({'a': s}, {'a': g}, extra_tests=1.5), "extra_tests must be a positive integer", "got 1.5")
    fails(lambda: z_test({'a': s}, {'a': g}, extra_tests=0), "extra_tests must be a positive integer", "got 0")
    fails(lambda: z_scores(s, g, tol=torch.tensor([0.1, 0.2])), "tol must be >= 0, one number for every coordinate, got tensor(")
    assert torch.equal(z_scores(s, g, tol=torch.tensor(0.1, dtype=f64)), z_scores(s, g, tol=0.1))
    fails(lambda: z_test({'a': s}, {'a': g.numpy()}), "target['a'] must be a torch.Tensor [d], got ndarray")
    fails(lambda: z_scores(s.numpy(), g), "samples must be a torch.Tensor, got ndarray")
    fails(lambda: binomial_z(torch.tensor(1.), 10, 1.5), "p must be probabilities in [0, 1], got 1.5")
    fails(lambda: binomial_z(torch.tensor([1., 2.]), 10, torch.tensor([0.5, math.nan])), "got nan")
    X = torch.zeros(3, 2, dtype=f64)
    fails(lambda: init_sbn_(nn.Linear(2, 1), X), "net: init_sbn_ initialises an SBNMLP, got Linear")
    with tempfile.TemporaryDirectory() as d:
        np.savez(f'{d}/i.npz', X=np.zeros((3, 2)), Y=np.ones((3, 1)), W0=np.zeros((0, 2)), b0=np.zeros(0), W1=np.zeros((1, 0)), b1=np.zeros(1))
        fails(lambda: load_sbn(f'{d}/i.npz'), f"{d}/i.npz: W0 has shape (0, 2); every layer needs at least one unit")
        p = save_sbn(f'{d}/a.npz', SBNMLP([2, 3, 1]), *cos_data(5))
        fails(lambda: load_sbn(p, dtype='float32'), "dtype must be a floating point torch.dtype", "got 'float32'")
        assert load_sbn(p, dtype=torch.float32)[0].layers[0].weight.dtype == torch.float32
