"Review s58, fx10: the relaxed unit 2 sigmoid(t) - 1 keeps an accurate float32 gradient where sigmoid(t) rounds to 1 (t >> 0)."
import pytest, torch
from sbn_estimators.relaxed import Concrete, STGumbel
from sbn_estimators.gumbel_family import DecoupledST
from sbn_estimators.rebar import REBAR

TS = [-25., -20., -16., -12., 12., 16., 20., 25.]


def sig_p64(t):
    "sigma'(t) in float64, as sigma(t) sigma(-t) (no 1 - sigma(t))."
    t = torch.as_tensor(t, dtype=torch.float64)
    return torch.sigmoid(t) * torch.sigmoid(-t)


def rel(got, want): return abs(got / want - 1)


@pytest.mark.parametrize('tau', [1.0, 0.5, 2.0])
@pytest.mark.parametrize('t', TS)
def test_concrete_gradient_a_and_tau_float32(t, tau):
    "d/da and d/dtau of Concrete's relaxed unit at t = (a - z)/tau, float32 against float64 closed forms, on both signs."
    a = torch.tensor([t * tau], requires_grad=True)
    tt = torch.tensor(tau, requires_grad=True)                     # a tensor temperature, as REBAR's exp(log tau)
    est = Concrete(tau)
    est.tau = tt
    ga, gt = torch.autograd.grad(est.relax(a, torch.zeros(1)).sum(), (a, tt))
    want_a = 2 / tau * sig_p64(t).item()
    want_t = -t / tau * 2 * sig_p64(t).item()                      # d/dtau of 2 sigma((a - z)/tau) - 1
    assert rel(ga.item(), want_a) < 1e-5, (ga.item(), want_a)
    assert rel(gt.item(), want_t) < 1e-5, (gt.item(), want_t)


@pytest.mark.parametrize('t', TS)
def test_st_gumbel_and_rebar_concrete_gradient_float32(t):
    "ST-Gumbel's backward and REBAR's relaxation (its `concrete`, with tau = exp(log tau) differentiable) are accurate too."
    a = torch.tensor([t], requires_grad=True)
    g, = torch.autograd.grad(STGumbel(1.0)(a, torch.zeros(1)).sum(), a)
    assert rel(g.item(), 2 * sig_p64(t).item()) < 1e-5
    rb = REBAR(tau=0.5)
    log_tau = torch.tensor(0.5).log().requires_grad_()
    rb.concrete.tau = log_tau.exp()
    a = torch.tensor([t * 0.5], requires_grad=True)
    ga, gl = torch.autograd.grad(rb.concrete.relax(a, torch.zeros(1)).sum(), (a, log_tau))
    assert rel(ga.item(), 4 * sig_p64(t).item()) < 1e-5
    assert rel(gl.item(), -t * 2 * sig_p64(t).item()) < 1e-5       # d/dlog tau = tau d/dtau = -t 2 sigma'(t)


@pytest.mark.parametrize('t', TS)
def test_decoupled_st_backward_float32(t):
    "Decoupled ST's backward (2/tau_b) sigma'(a/tau_b - Z) in float32 at a/tau_b - Z = t, both signs."
    a = torch.tensor([t * 2.0], requires_grad=True)
    g, = torch.autograd.grad(DecoupledST(1.0, 2.0)(a, torch.zeros(1)).sum(), a)
    assert rel(g.item(), sig_p64(t).item()) < 1e-5, (g.item(), sig_p64(t).item())


def test_value_within_rounding_and_float64_second_order():
    "The relaxed value is 2 sigmoid(t) - 1 to rounding (identical for t < 0); float64 first and second derivatives are the closed forms (REBAR differentiates twice)."
    torch.manual_seed(0)
    a, z = torch.randn(100_000) * 5, torch.randn(100_000) * 2
    for tau in (0.1, 1.0):
        got, naive = Concrete(tau).relax(a, z), 2 * torch.sigmoid((a - z) / tau) - 1
        assert (got - naive).abs().max() <= 2e-7
        neg = (a - z) < 0
        assert torch.equal(got[neg], naive[neg])
    t = torch.linspace(-30, 30, 121, dtype=torch.float64, requires_grad=True)
    g, = torch.autograd.grad(Concrete(1.0).relax(t, torch.zeros_like(t)).sum(), t, create_graph=True)
    h, = torch.autograd.grad(g.sum(), t)
    s, sm = torch.sigmoid(t.detach()), torch.sigmoid(-t.detach())
    torch.testing.assert_close(g.detach(), 2 * s * sm, rtol=1e-12, atol=0)
    torch.testing.assert_close(h, 2 * s * sm * (sm - s), rtol=1e-9, atol=1e-300)
    x = Concrete(1.0).relax(torch.tensor([float('-inf'), -0., 0., float('inf'), float('nan')]), torch.zeros(5))
    assert x[:4].tolist() == [-1., 0., 0., 1.] and x[4].isnan()


def test_helper_shared():
    "One helper computes the relaxed unit for Concrete (hence REBAR, RELAX, ST-Gumbel) and decoupled ST."
    import sbn_estimators.relaxed as R, sbn_estimators.gumbel_family as G
    assert G._pm_sigmoid is R._pm_sigmoid
