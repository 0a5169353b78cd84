"""Review of the relaxed estimators and REBAR/RELAX (pages 08, 09, 09a): the Concrete temperature's range, shared by
Concrete, ST-Gumbel and REBAR/RELAX (whose tuning keeps tau in it), and the pages' statements of cost and names."""
import json, math
from pathlib import Path
import pytest
import torch
from sbn_estimators.sbn import SBNMLP, cos_data, init_sbn_
from sbn_estimators.estimators import estimator, draw_estimates
import sbn_estimators.relaxed, sbn_estimators.rebar, sbn_estimators.unbiased


def fails(f):
    with pytest.raises(ValueError) as e: f()
    return str(e.value)


NBS = Path(__file__).resolve().parent.parent / 'nbs'


def page_text(name, kind=None):
    cells = json.loads((NBS / name).read_text())['cells']
    return '\n'.join(''.join(c['source']) for c in cells if kind is None or c['cell_type'] == kind)


@pytest.mark.parametrize('name', ['concrete', 'st_gumbel', 'gumbel_softmax'])
@pytest.mark.parametrize('tau', [1e-50, 1e-4, 1e4, 1e300])
def test_tau_outside_the_range_is_refused(name, tau):
    "A temperature outside [1e-3, 1e3] is a ValueError naming the range, the one REBAR and RELAX take (one rule)."
    msg = fails(lambda: estimator(name, tau=tau))
    assert msg.startswith(f"estimator '{name}' with tau={tau}: tau must be a number in [0.001, 1000], got "), msg
    for other in ('rebar', 'relax'): assert fails(lambda: estimator(other, tau=tau)).split(': ', 1)[1] == msg.split(': ', 1)[1]


@pytest.mark.parametrize('name', ['concrete', 'st_gumbel'])
def test_every_accepted_tau_gives_finite_gradients(name):
    "tau=1e-50 was accepted and gave NaN gradients in float32 (1e-50 rounds to 0); now each tau is refused or works."
    for dt, tau in ((dt, tau) for dt in (torch.float32, torch.float64) for tau in (1e-50, 1e-40, 1e-3, 1e3, 1e30)):
        try: est = estimator(name, tau=tau)
        except ValueError: continue
        a = torch.tensor([0.1, 0.5, -30., 30.], dtype=dt, requires_grad=True)
        est(a, torch.tensor([0.1, 0.5, 0.2, -0.3], dtype=dt)).sum().backward()
        assert torch.isfinite(a.grad).all(), (name, dt, tau, a.grad)
    for tau in (1e-3, 1e3): assert estimator(name, tau=tau).tau == tau   # the bounds themselves are valid


def test_st_gumbel_network_draw_is_finite_or_refused():
    "draw_estimates with st_gumbel at tau=1e-50 gave hundreds of non-finite entries in float32, silently."
    X, Y = cos_data()
    net = init_sbn_(SBNMLP([2, 5, 5, 1], dtype=torch.float32), X.float(), seed=0)
    for tau in (1e-50, 1e-3):
        try: est = estimator('st_gumbel', tau=tau)
        except ValueError: continue
        torch.manual_seed(0)
        d = draw_estimates(net, X[::10].float(), Y[::10].float(), est, 20)
        assert all(torch.isfinite(v).all() for v in d.values()), tau


@pytest.mark.parametrize('name', ['rebar', 'relax'])
def test_tuned_tau_stays_in_the_constructor_range(name):
    "With a large lr the tuning drove tau from 1e-3 to 7e-7 in 100 calls; log tau is clamped to [log 1e-3, log 1e3]."
    torch.manual_seed(0)
    net = SBNMLP([3, 3, 2, 3], loss='cross_entropy', dtype=torch.float64)
    x, y = torch.randn(8, 3, dtype=torch.float64), torch.randint(0, 3, (8,))
    est = estimator(name, tau=1e-3, lr=0.5)
    taus = []
    for _ in range(40):
        est.surrogate(net, x, y, net.sample_params(4)).backward()
        taus.append(float(est.concrete.tau))
        assert math.isclose(taus[-1], est.log_tau.exp().item())
    lo, hi = math.log(1e-3), math.log(1e3)
    assert all(lo <= math.log(t) + 1e-12 and math.log(t) <= hi + 1e-12 for t in taus), min(taus)
    assert min(taus) < 1.01e-3          # the tuning pushes against the bound here: the clamp is what holds it
    assert est.spec == f'{name}:tau=0.001,lr=0.5'   # the spec keeps the starting value


def test_tuned_tau_clamped_at_the_top_too():
    torch.manual_seed(0)
    net = SBNMLP([3, 3, 2, 3], loss='cross_entropy', dtype=torch.float64)
    x, y = torch.randn(8, 3, dtype=torch.float64), torch.randint(0, 3, (8,))
    est = estimator('rebar', tau=1e3)
    est.surrogate(net, x, y)
    with torch.no_grad(): est.log_tau.fill_(20.)   # as if a step overshot
    est.surrogate(net, x, y)
    assert est.log_tau.item() <= math.log(1e3) + 1e-12 and float(est.concrete.tau) <= 1e3 * (1 + 1e-12)


def count_layer_rows(net):
    "Wrap net.layer and net.head to count the rows (examples x copies x paths) they evaluate."
    count = {'n': 0}
    layer, head = net.layer, net.head
    def counted(f):
        def g(k_or_h, *args, **kw):
            out = f(k_or_h, *args, **kw); count['n'] += out.numel() // out.shape[-1]; return out
        return g
    net.layer, net.head = counted(layer), counted(head)
    return count


@pytest.mark.parametrize('spec, n', [('reinforce', 1), ('reinforce:n=4', 4), ('reinforce:baseline=loo,n=3', 3)])
def test_reinforce_cost_is_one_plus_nL(spec, n):
    "Page 08: REINFORCE with n paths costs 1 + nL layer evaluations (the paths share the first layer's affine map)."
    torch.manual_seed(0)
    L, B, M = 3, 5, 7
    net = SBNMLP([3, 4, 4, 4, 2], loss='cross_entropy', dtype=torch.float64)
    x, y = torch.randn(B, 3, dtype=torch.float64), torch.randint(0, 2, (B,))
    count = count_layer_rows(net)
    estimator(spec).surrogate(net, x, y, net.sample_params(M)).backward()
    assert count['n'] == (1 + n * L) * B * M
    text = page_text('08_unbiased.ipynb', 'markdown')
    assert '$1 + nL$ layer evaluations' in text and '$n(L+1)$' not in text


def test_rebar_fd_check_names_kappa():
    "Page 09a calls the control variate's scale kappa (est.scales); its finite-difference check said eta."
    src = page_text('09a_rebar_relax.ipynb', 'code')
    assert 'fd_kappa' in src and 'dV/dkappa_1' in src and 'fd_eta' not in src and 'dV/deta' not in src


def test_pages_state_the_tau_range_and_the_spec_start_value():
    assert '[10^{-3}, 10^3]' in page_text('09_relaxed.ipynb', 'markdown')
    t = page_text('09a_rebar_relax.ipynb', 'markdown')
    assert 'clamped' in t and '*starting* values' in t
