"Review s44 (fixC): the Dirichlet copula's marginals in 16-bit dtypes and float32 at large n; a loaded learned state keeps the loading estimator's step sizes and says which estimator saved it; copula_correlation and unit_logit take numbers and noise names."
import copy, math
import pytest, torch
from sbn_estimators.estimators import estimator
from sbn_estimators.sbn import SBNMLP, cos_data, init_sbn_
from sbn_estimators.core import get_noise
from sbn_estimators.unbiased import dirichlet_copula, copula_correlation, unit_logit
import sbn_estimators.rebar, sbn_estimators.rodeo   # registers rebar, relax, rodeo

torch.set_num_threads(1)


@pytest.mark.parametrize('dtype, n, N', [(torch.bfloat16, 4, 50_000), (torch.float16, 16, 20_000), (torch.bfloat16, 2, 100_000),
                                         (torch.float32, 256, 10_000)])
def test_dirichlet_copula_has_uniform_marginals_in_every_dtype(dtype, n, N):
    "P(u_i < t) = t for t of the dtype (5 standard errors of N draws); 1 - (1-d)^(n-1) rounded 1-d: bfloat16 n=4 gave P(u < 0.001) = 0.0047, float32 n=256 gave u = 0."
    torch.manual_seed(0)
    u = dirichlet_copula(n, (N,), dtype=dtype)
    assert u.dtype == dtype and u.shape == (n, N)
    assert u.min() >= 0 and u.max() < 1                                      # [0, 1), as torch.rand
    for t in (1e-3, 1e-2, 0.5, 1 - 1e-2):
        t = torch.tensor(t, dtype=dtype).item()                              # a value of the dtype: u < t exactly as often as t
        frac = (u < t).double().mean(1)
        assert (frac - t).abs().max() <= 5 * math.sqrt(t * (1 - t) / N), (t, frac.min().item(), frac.max().item())
    if dtype == torch.float32: assert (u == 0).sum() == 0                  # u ~ (n-1) d > 0: was 6.6e-6 of the draws


def test_dirichlet_copula_refuses_a_dtype_that_is_not_floating_point():
    with pytest.raises(ValueError, match="dtype must be a real floating-point torch dtype, got torch.int64"):
        dirichlet_copula(4, 3, dtype=torch.int64)


def test_copula_correlation_takes_numbers():
    "A number or list is taken as a tensor of the default dtype (was AttributeError: 'int' object has no attribute 'any')."
    test = copula_correlation(torch.tensor([0.3, 0.9]), 4)
    assert torch.equal(copula_correlation(0.3, 4), test[0])
    assert torch.equal(copula_correlation([0.3, 0.9], 4), test)
    with pytest.raises(ValueError, match=r"p must be probabilities in \[0, 1\], got values"): copula_correlation(1.5, 4)
    with pytest.raises(ValueError, match="p must be a tensor or number"): copula_correlation('x', 4)


def test_unit_logit_takes_a_noise_name():
    a = torch.tensor([-1., 0., 2.], dtype=torch.float64)
    for name in ('logistic', 'normal'): assert torch.equal(unit_logit(a, name), unit_logit(a, get_noise(name)))


def _net():
    X, Y = cos_data()
    return init_sbn_(SBNMLP([2, 4, 3, 1]), X, seed=0), X[::10], Y[::10]


@pytest.mark.parametrize('spec, other, lrs', [('reinforce:baseline=nvil', 'reinforce:baseline=nvil,lr=0.5', [0.5]),
                                               ('rebar', 'rebar:lr=0.5', [0.5]),
                                               ('relax', 'relax:lr=0.5,net_lr=0.25', [0.5, 0.25]),
                                               ('rodeo', 'rodeo:lr=0.5,net_lr=0.25', [0.5, 0.25])])
def test_a_loaded_state_keeps_the_step_sizes_of_the_loading_estimator(spec, other, lrs):
    "The constructor's lr, net_lr win over the saved optimizer's (they were the saved ones: 0.05 while the spec said 0.5); Adam's step counts carry over."
    net, x, y = _net()
    a = estimator(spec); a.surrogate(net, x, y).backward()
    b = estimator(other); b.load_state_dict(a.state_dict()); b.surrogate(net, x, y).backward()
    assert [g['lr'] for g in b._opt.param_groups] == lrs
    assert [float(s['step']) for s in b._opt.state_dict()['state'].values()] == [2.] * len(b._opt.state_dict()['state'])
    c = estimator(other); c.load_state_dict(b.state_dict()); c.surrogate(net, x, y).backward()   # its own again
    assert [g['lr'] for g in c._opt.param_groups] == lrs


@pytest.mark.parametrize('saver, loader, saved_by', [('relax', 'rebar', "it was saved by relax with hidden=16 and this estimator is rebar: "),
                                                     ('rebar', 'relax', "it was saved by rebar and this estimator is relax with hidden=16: "),
                                                     ('relax', 'relax:hidden=8', "it was saved by relax with hidden=16 and this estimator is relax with hidden=8"),
                                                     ('rodeo', 'rodeo:hidden=8', "it was saved by rodeo with hidden=16 and this estimator is rodeo with hidden=8"),
                                                     ('reinforce:baseline=nvil', 'reinforce:baseline=nvil,hidden=8',
                                                      "it was saved by reinforce with hidden=16 and this estimator is reinforce with hidden=8")])
def test_a_state_of_another_estimator_is_refused_naming_it(saver, loader, saved_by):
    "The state records the saving estimator's kind and hidden; the refusal names them (it said only 'does not fit this network'). A state without them (saved before) still loads, and its refusal names both causes."
    net, x, y = _net()
    a = estimator(saver); a.surrogate(net, x, y)
    state = a.state_dict()
    assert state['kind'] == saver.split(':')[0] and state.get('hidden') == (None if saver == 'rebar' else 16)
    b = estimator(loader); b.load_state_dict(state)
    with pytest.raises(ValueError, match="the loaded .* state does not fit this network: ") as e: b.surrogate(net, x, y)
    assert saved_by in str(e.value)
    old = {k: v for k, v in state.items() if k not in ('kind', 'hidden')}   # as saved before the state recorded them
    b = estimator(loader); b.load_state_dict(old)
    with pytest.raises(ValueError, match=r"it was saved by another estimator \(another kind or hidden size\) or for another network"):
        b.surrogate(net, x, y)
    same = estimator(saver); same.load_state_dict(copy.deepcopy(old)); same.surrogate(net, x, y)   # loads as before
    assert same.state_dict()['kind'] == state['kind']
