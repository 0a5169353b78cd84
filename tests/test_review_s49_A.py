"Review s49 (A): copula_correlation in float16/bfloat16 (computed in float32, rounded once); bitflip_set refuses NaN and p outside [0, 1] as copula_correlation does; MirrorDescent and MirrorDescentAdam refuse non-finite gradients (`check_grads`, as Bop and BayesBiNN); BayesBiNN refuses a train_size whose N * s overflows lambda's dtype."
import copy, pickle, re
import pytest
import torch
from torch import nn
from sbn_estimators.unbiased import copula_correlation
from sbn_estimators.control_variates import bitflip_set
from sbn_estimators.binary_weights import MirrorDescent
from sbn_estimators.binary_optimizers import BayesBiNN, MirrorDescentAdam, make_mirror_descent

torch.set_num_threads(1)


# 1. copula_correlation in 16-bit dtypes
@pytest.mark.parametrize('dt', [torch.float16, torch.bfloat16])
@pytest.mark.parametrize('n', [2, 3, 4, 8, 100])
def test_copula_correlation_16_bit_agrees_with_float64(dt, n):
    p = torch.cat([torch.tensor([0., 1e-7, 1e-5, 1e-4, 1e-3, 0.5, 1 - 1e-3, 1.]), torch.logspace(-7, 0, 60), 1 - torch.logspace(-7, -0.3, 60)]).to(dt)
    r, ref = copula_correlation(p, n), copula_correlation(p.double(), n)
    assert r.dtype == dt
    assert r.abs().max() <= 1, r
    assert ((r.double() - ref).abs() <= torch.finfo(dt).eps).all(), (p[(r.double() - ref).abs() > torch.finfo(dt).eps], r, ref)

def test_copula_correlation_reported_values():
    r = copula_correlation(torch.tensor([1e-7, 1e-4, 0.5], dtype=torch.float16), 100)   # was [2.0, -0.0060, -0.0049]
    assert r[0] <= 0 and r[0] > -1e-3 and abs(r[1].item() + 1.01e-6) < 1e-6 and abs(r[2].item() + 0.004875) < 1e-5
    assert copula_correlation(torch.tensor([1e-7], dtype=torch.float16), 4).item() > -1e-3   # was -1.0

def test_copula_correlation_float32_and_float64_unchanged_dtype():
    for dt in (torch.float32, torch.float64):
        assert copula_correlation(torch.tensor([0.3], dtype=dt), 4).dtype == dt


# 2. bitflip_set's probabilities
@pytest.mark.parametrize('p, shown', [([float('nan'), 0.5, 0.01], 'nan'), ([-0.5, 2.0, 0.5], '-0.5, 2'), ([0.5, float('inf')], 'inf')])
def test_bitflip_set_refuses_what_copula_correlation_refuses(p, shown):
    for f in (bitflip_set, lambda t: copula_correlation(t, 3)):
        with pytest.raises(ValueError, match=rf"p must be probabilities in \[0, 1\], got values {shown}"): f(torch.tensor(p))

def test_bitflip_set_still_takes_probabilities():
    assert bitflip_set(torch.tensor([0., 1., 0.5])).tolist() == [True, True, False]
    assert bitflip_set(torch.tensor([0., 0., 0., 0.])).all()

def test_ugc_draw_still_runs():
    from sbn_estimators.control_variates import UGC
    torch.manual_seed(0)
    xs, w = UGC().draw(torch.tensor([[0.001, 0.5, 0.999]]))
    assert xs.shape == (3, 1, 3) and w.isfinite().all()


# 3. MirrorDescent and MirrorDescentAdam: non-finite gradients
def _md(check_grads=True): eta = nn.Parameter(torch.tensor([0.5, -0.5, 1.0])); return eta, MirrorDescent([eta], lr=0.1, clip=5., check_grads=check_grads)
def _mda(check_grads=True):
    eta, b = nn.Parameter(torch.tensor([0.5, -0.5, 1.0])), nn.Parameter(torch.zeros(2))
    return eta, MirrorDescentAdam([dict(params=[eta], binary=True), dict(params=[b], binary=False)], lr=0.1, clip=5., check_grads=check_grads)
BUILD = {'MirrorDescent': _md, 'mirror_descent': _mda}

@pytest.mark.parametrize('who', list(BUILD))
@pytest.mark.parametrize('g', [[float('inf'), 0., 0.], [0., -float('inf'), 0.], [0., 0., float('nan')]])
def test_mirror_descent_refuses_a_non_finite_gradient_before_anything_changes(who, g):
    eta, opt = BUILD[who]()
    eta.grad = torch.tensor(g)
    with pytest.raises(ValueError, match=rf"{who}: the gradient of binary parameter 0 of param group 0 \(shape \[3\]\) is not finite"): opt.step()
    assert eta.data.tolist() == [0.5, -0.5, 1.0]   # was [-5., 5., nan] / clipped to +-clip

@pytest.mark.parametrize('who', list(BUILD))
def test_mirror_descent_check_grads_off_and_flag_checked_and_kept(who):
    eta, opt = BUILD[who](check_grads=False)
    eta.grad = torch.tensor([float('inf'), 0., 0.]); opt.step()   # the caller's choice: no check
    assert eta.data[0] == -5.
    for v in (1, None, 'no'):
        with pytest.raises(ValueError, match=f"check_grads must be True or False .*got {v!r}"): BUILD[who](check_grads=v)
    eta, opt = BUILD[who](check_grads=False)
    opt.load_state_dict(BUILD[who]()[1].state_dict())
    assert opt.check_grads is False and all('check_grads' not in g for g in opt.state_dict()['param_groups'])
    for c in (copy.deepcopy(opt), pickle.loads(pickle.dumps(opt))): assert c.check_grads is False
    assert copy.deepcopy(BUILD[who]()[1]).check_grads is True

def test_mirror_descent_real_valued_group_not_checked_and_factory_passes_flag():
    eta, opt = _mda()
    b = opt.param_groups[1]['params'][0]
    eta.grad, b.grad = torch.zeros(3), torch.tensor([float('nan'), 0.])   # Adam's group: not a binary weight (as Bop's check)
    opt.step()
    cfg = type('Cfg', (), dict(lr=1e-3, weight_decay=0.))()
    e = nn.Parameter(torch.zeros(3))
    assert make_mirror_descent([dict(params=[e], binary=True)], cfg).check_grads is True
    assert make_mirror_descent([dict(params=[e], binary=True)], cfg, check_grads=False).check_grads is False

def test_mirror_descent_finite_steps_unchanged():
    eta = torch.tensor([0.5, -3.], requires_grad=True); eta.grad = torch.tensor([1., -1.])
    MirrorDescent([eta], lr=0.5, clip=2.).step()
    assert eta.detach().tolist() == [0., -2.]


# 4. BayesBiNN's train_size in the dtype of lambda
@pytest.mark.parametrize('dt, N, top', [(torch.float32, 10**30, '3.403e+18'), (torch.float64, 10**30, '9.223e+18'), (torch.float32, 4 * 10**18, '3.403e+18'),
                                        (torch.float64, 2**63, '9.223e+18'), (torch.bfloat16, 10**19, '3.403e+18')])
def test_bayesbinn_refuses_a_train_size_that_overflows_at_construction(dt, N, top):
    w = nn.Parameter(torch.randn(5, dtype=dt))
    with pytest.raises(ValueError, match=rf"train_size of param group 0 must be at most {re.escape(top)} in torch.float(32|64), the dtype of lambda.*got {N}"):
        BayesBiNN([dict(params=[w], binary=True)], train_size=N)

def test_bayesbinn_refuses_an_overflowing_train_size_in_a_loaded_state_dict():
    w = nn.Parameter(torch.randn(5))
    sd = BayesBiNN([dict(params=[w], binary=True)], train_size=10).state_dict()
    sd['param_groups'][0]['train_size'] = 10**30
    with pytest.raises(ValueError, match="train_size of param group 0 of the loaded state_dict must be at most"):
        BayesBiNN([dict(params=[w], binary=True)], train_size=10).load_state_dict(sd)

@pytest.mark.parametrize('dt, N', [(torch.float32, 3 * 10**18), (torch.float64, 2**63 - 1), (torch.float32, 60_000)])
def test_bayesbinn_takes_a_train_size_that_fits_and_steps(dt, N):
    torch.manual_seed(0)
    w = nn.Parameter(torch.randn(5, dtype=dt))
    opt = BayesBiNN([dict(params=[w], binary=True)], train_size=N)
    w.grad = torch.randn(5, dtype=dt); opt.step()
    assert opt.state[w]['lambda'].isfinite().all()
