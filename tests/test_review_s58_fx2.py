"""Review s58 (fx2): PSA and UGC keep the gradient of a unit saturated on the + side.

A unit whose pre-activation a is large and positive has F(a) = 1 in floating point (from a ~ 17 in float32, ~ 37 in
float64): PSA's dDelta_0 = -x F'(a) da taken through the rounded F(a), and UGC's bit-flip weight p (1 - p), were then 0,
while the mirror unit at -a got the enumerated gradient. Both now take F at -|a| (the noise is symmetric)."""
import pytest, torch
from sbn_estimators.core import get_noise
from sbn_estimators.sbn import SBNMLP
from sbn_estimators.exact import exact_loss
from sbn_estimators.psa import psa_expectation, PSA, compiler_works
from sbn_estimators.estimators import estimator, draw_estimates
from sbn_estimators.control_variates import UGC, bitflip_set, _bitflip_set

CASES = [(torch.float32, 1e-5), (torch.float64, 1e-12)]
SAT = {('logistic', torch.float32): 20., ('logistic', torch.float64): 40.,   # a where F(a) rounds to 1 and F'(a) is
       ('normal', torch.float32): 6., ('normal', torch.float64): 9.}         # not yet 0 (the normal's from a ~ 5.4 and 8.3)


def one_unit(a, dtype, noise='logistic'):
    "[1, 1, 1]: one binary unit of pre-activation `a` (weight 0, bias a), head weight 1 and bias 0.2; x = y = 1."
    net = SBNMLP([1, 1, 1], noise=noise, dtype=dtype)
    with torch.no_grad():
        net.layers[0].weight.zero_(); net.layers[0].bias.fill_(a)
        net.layers[1].weight.fill_(1.); net.layers[1].bias.fill_(.2)
    return net, torch.ones(1, 1, dtype=dtype), torch.ones(1, 1, dtype=dtype)


def grads(net, loss):
    return torch.cat([g.flatten() for g in torch.autograd.grad(loss, list(net.parameters()))])


def test_old_formulas_lose_the_saturated_side():
    "What the old code computed: the sigmoid's backward and p (1 - p) are 0 at a = 20 in float32; F at -a is not."
    a = torch.tensor(20., requires_grad=True)
    assert torch.autograd.grad(torch.sigmoid(a), a)[0].item() == 0.                 # old dDelta_0
    assert torch.autograd.grad(-torch.sigmoid(-a), a)[0].item() > 1e-9              # the new one's
    p = torch.sigmoid(a.detach())
    assert (p * (1 - p)).item() == 0. and (p * torch.sigmoid(-a.detach())).item() > 1e-9   # old and new UGC weights


@pytest.mark.parametrize('noise', ['logistic', 'normal'])
@pytest.mark.parametrize('dtype,rtol', CASES)
def test_psa_expectation_matches_exact_on_both_sides(noise, dtype, rtol):
    s = SAT[noise, dtype]
    for a in (s, -s):
        net, x, y = one_unit(a, dtype, noise)
        g, e = grads(net, exact_loss(net, x, y)), grads(net, psa_expectation(net, x, y))
        assert g[1] != 0 and get_noise(noise).cdf(torch.tensor(s, dtype=dtype)) == 1   # the unit's bias: tiny, not 0; F(|a|) = 1
        torch.testing.assert_close(e, g, rtol=rtol, atol=0)               # every coordinate to rounding, the bias's too


@pytest.mark.parametrize('backend', ['eager', 'compiled'])
def test_psa_estimator_both_backends(backend):
    "One PSA estimate is exact here (the unit's sample is its likely value with probability 1 - 2e-9), with either backend."
    if backend == 'compiled' and not compiler_works('cpu'): pytest.skip('no torch.compile on this machine')
    for a in (20., -20.):
        net, x, y = one_unit(a, torch.float32)
        g = grads(net, exact_loss(net, x, y))
        torch.manual_seed(0)
        e = grads(net, PSA(backend).surrogate(net, x, y))
        assert e[1] != 0
        torch.testing.assert_close(e, g, rtol=1e-5, atol=0)


@pytest.mark.parametrize('noise', ['logistic', 'normal'])
@pytest.mark.parametrize('dtype,rtol', CASES)
def test_ugc_mean_matches_exact_on_both_sides(noise, dtype, rtol):
    s = SAT[noise, dtype]
    for a in (s, -s):
        net, x, y = one_unit(a, dtype, noise)
        g = grads(net, exact_loss(net, x, y))[1]
        torch.manual_seed(0)
        d = draw_estimates(net, x, y, estimator('ugc'), 100)['layer-0'][:, 1]
        assert g != 0
        torch.testing.assert_close(d.mean(), g, rtol=rtol, atol=0)


def test_ugc_draw_defaults_q_to_one_minus_p():
    "draw(p) alone still works (q = 1 - p), and the bit-flip set ranks by min(p, q)."
    p = torch.tensor([[0.001, 0.5, 0.999]], dtype=torch.float64)
    torch.manual_seed(0); xs, w = UGC().draw(p)
    torch.manual_seed(0); xs2, w2 = UGC().draw(p, 1 - p)
    assert torch.equal(xs, xs2) and torch.equal(w, w2)
    assert torch.equal(_bitflip_set(p, 1 - p), bitflip_set(p))
    one = torch.ones(1, 3, dtype=torch.float32)                           # p rounded to 1: q tells the units apart
    assert _bitflip_set(one, torch.tensor([[3e-9, 1e-9, 2e-9]])).tolist() == [[True, True, True]]
