"""Coverage review (s56): the per-layer unbiased estimators (`arm`, `disarm`, `arms`, `ugc`) weight each layer by the
score of phi(a) = log F(a) - log F(-a), which is just `a` only for logistic noise; every z-test of them used logistic
networks, so the logistic shortcut phi = a under normal noise (|z| about 80) passed every page and test. Here: phi
against its closed form, the four estimators and `muprop` against exact enumeration on a normal-noise network, and the
shortcut shown to fail the same test. Also `concrete`'s relaxation pinned at a fixed temperature (a tanh at twice the
temperature passed page 09)."""
import math
import mpmath
import pytest, torch
from sbn_estimators.sbn import SBNMLP, init_sbn_, cos_data
from sbn_estimators.estimators import estimator, draw_estimates
from sbn_estimators.stats import z_test
from sbn_estimators import unbiased

torch.set_num_threads(1)
f64 = torch.float64
N = 4000   # estimates per estimator: the shortcut's bias gives |z| near 80 at this count, the threshold is about 4


def test_unit_logit_is_the_normal_logit():
    "phi(a) = log Phi(a) - log Phi(-a) to 1e-12 against mpmath, out to the tails where the difference of logs is large."
    a = torch.tensor([-30., -8., -2.5, -0.3, 0., 0.7, 3., 9., 25.], dtype=f64)
    want = torch.tensor([float(mpmath.log(mpmath.ncdf(x)) - mpmath.log(mpmath.ncdf(-x))) for x in a.tolist()], dtype=f64)
    got = unbiased.unit_logit(a, 'normal')
    assert torch.allclose(got, want, rtol=1e-12, atol=1e-12), (got, want)
    assert not torch.allclose(a, want, rtol=0.1)   # the logistic shortcut phi = a is far from it


def _normal_problem():
    X, Y = cos_data()
    net = init_sbn_(SBNMLP([2, 4, 3, 1], noise='normal'), X, seed=3)
    xs, ys = X[::10], Y[::10]
    exact = {k: v[0] for k, v in draw_estimates(net, xs, ys, estimator('exact'), 1).items()}
    return net, xs, ys, exact


SPECS = ['arm', 'disarm', 'arms:n=4', 'ugc', 'muprop']


@pytest.fixture(scope='module')
def normal_problem(): return _normal_problem()


@pytest.mark.parametrize('spec', SPECS)
def test_unbiased_under_normal_noise(spec, normal_problem):
    net, xs, ys, exact = normal_problem
    torch.manual_seed(0)
    z, t, ok = z_test(draw_estimates(net, xs, ys, estimator(spec), N, chunk=1000), exact, extra_tests=len(SPECS))
    assert ok, f"{spec}: max|z| {z:.2f} >= {t:.2f}"


@pytest.mark.parametrize('spec', ['arm', 'disarm', 'arms:n=4', 'ugc'])
def test_the_logistic_shortcut_fails_under_normal_noise(spec, normal_problem, monkeypatch):
    "The deliberately wrong variant: phi = a whatever the noise."
    net, xs, ys, exact = normal_problem
    monkeypatch.setattr(unbiased, 'unit_logit', lambda a, noise: a)
    torch.manual_seed(0)
    z, t, ok = z_test(draw_estimates(net, xs, ys, estimator(spec), N, chunk=1000), exact, extra_tests=len(SPECS))
    assert not ok and z > 3 * t, f"{spec}: the shortcut passed, max|z| {z:.2f} < {t:.2f}"


@pytest.mark.parametrize('tau', [0.5, 1.0, 2.0])
def test_concrete_at_a_fixed_temperature(tau):
    "With the noise given, `concrete`'s value and slope equal 2/(1 + exp(-(a - z)/tau)) - 1 and its derivative, written out with math; a tanh((a - z)/tau) (the relaxation at twice the temperature) does not."
    est = estimator('concrete', tau=tau)
    a0 = [-3.0, -1.5, -0.2, 0.0, 0.8, 4.0]
    z0 = [0.3, -2.0, 1.1, 0.0, -0.4, 2.5]
    a = torch.tensor(a0, dtype=f64, requires_grad=True)
    x = est(a, torch.tensor(z0, dtype=f64))
    x.sum().backward()
    for i, (ai, zi) in enumerate(zip(a0, z0)):
        s = 1 / (1 + math.exp(-(ai - zi) / tau))
        assert math.isclose(x[i].item(), 2 * s - 1, rel_tol=1e-13, abs_tol=1e-15)
        assert math.isclose(a.grad[i].item(), 2 * s * (1 - s) / tau, rel_tol=1e-13, abs_tol=1e-15)
    wrong = torch.tanh((a.detach() - torch.tensor(z0, dtype=f64)) / tau)
    assert (wrong - x.detach()).abs().max() > 0.05
