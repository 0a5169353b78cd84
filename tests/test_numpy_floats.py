"""Float arguments take numpy numbers (np.float32, np.float64, and numpy integers where a whole number is valid) and keep
or pass them on as Python floats: nothing a spec, a repr, a state_dict or a report shows holds a numpy number."""
import json
import numpy as np
from conftest import plain
import pytest
import torch
from torch import nn
from sbn_estimators.binary_optimizers import Bop, BayesBiNN, binary_param_groups
from sbn_estimators.binary_weights import BinaryWeightLinear
from sbn_estimators.estimators import estimator
from sbn_estimators.exact import check_enumerable
from sbn_estimators.gradeval import train_toy_sbn
from sbn_estimators.layers import BinaryActivation
from sbn_estimators.mismatch import coordinate_grad, mismatch, proxy_estimator, smoothed_grad
from sbn_estimators.sbn import SBNMLP

torch.set_num_threads(1)  # tiny tensors: one thread is fastest on a shared CPU


def est_floats(spec, floats, **fixed):
    "An estimator built with its float parameters `floats` as numpy numbers keeps them as floats."
    def check(t):
        e = estimator(spec, **fixed, **{k: t(v) for k, v in floats.items()})
        assert all(type(getattr(e, k)) is float and getattr(e, k) == float(t(v)) for k, v in floats.items())
        assert 'np.' not in e.spec + repr(e) and plain(e.hparams())
    return check


def groups():
    return binary_param_groups(nn.Sequential(BinaryWeightLinear(3, 2), nn.Linear(2, 1)))


def hypers(opt):
    "Every param group's hyper-parameters: floats, JSON-safe, also in the state_dict and the repr."
    hp = [{k: v for k, v in g.items() if k not in ('params', 'binary', 'train_size')} for g in opt.param_groups]
    assert all(type(v) is float for h in hp for k, v in h.items() if k != 'betas')
    assert all(type(v) is float for h in hp for v in h['betas'])
    sd = [{k: v for k, v in g.items() if k != 'params'} for g in opt.state_dict()['param_groups']]
    assert plain(hp) and plain(sd) and 'np.' not in repr(opt)


def bop(t):
    gs = groups()
    gs[1].update(lr=t(1), eps=t(1))   # a group's own values too
    opt = Bop(gs, threshold=t(1), gamma=t(1), lr=t(2), betas=(t(0), t(0)), eps=t(1), weight_decay=t(0))
    hypers(opt)
    assert opt.param_groups[0]['lr'] == 2 and opt.param_groups[1]['lr'] == 1


def bayesbinn(t):
    gs = groups()
    gs[1]['lr'] = t(2)   # Adam's group; a binary group's lr is at most 1
    opt = BayesBiNN(gs, train_size=10, lr=t(1), temperature=t(1), prior_lambda=t(0), init_lambda=t(3), beta=t(0), scale_eps=t(1),
                    betas=(t(0), t(0)), eps=t(1), weight_decay=t(0))
    hypers(opt)
    assert opt.param_groups[1]['lr'] == 2 and opt.state[gs[0]['params'][0]]['lambda'].abs().eq(3).all()


def max_bytes(t):
    net = SBNMLP([2, 3, 1])
    assert check_enumerable(net, max_bytes=t(1e9)) > 0
    with pytest.raises(ValueError, match='above the limit'): check_enumerable(net, max_bytes=t(1))


def toy_sgd(t):
    seen = []
    sgd = torch.optim.SGD
    def spy(*a, **kw): seen.append(kw); return sgd(*a, **kw)
    torch.optim.SGD = spy
    try: train_toy_sbn(epochs=0, lr=t(1), momentum=t(0))
    finally: torch.optim.SGD = sgd
    assert [type(seen[0][k]) for k in ('lr', 'momentum')] == [float, float]


def rel_sigma(t):
    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 4), BinaryActivation(proxy_estimator('clipped_st')), nn.Linear(4, 3))
    x, y = torch.randn(6, 8, generator=g), torch.randint(0, 3, (6,), generator=g)
    r = mismatch(net, x, y, rel_sigma=t(1), samples=4, chunk=2)
    assert type(r['rel_sigma']) is float and plain(r['rel_sigma'])


def sigmas(t):
    f = lambda ps: (ps[0] ** 2).sum(-1)
    for s in (t(1), [t(1)]):
        assert smoothed_grad(f, [torch.ones(2)], sigma=s, samples=4)[0].shape == (2,)
        assert coordinate_grad(f, [torch.ones(2)], h=s)[0].shape == (2,)


F32, F64, I64 = np.float32, np.float64, np.int64
CASES = {   # name: (check, the numpy types it runs with); np.float64 only where the old code kept it (a float subclass) as it came
    'bop': (bop, (F32, F64, I64)), 'bayesbinn': (bayesbinn, (F32, F64, I64)),
    'check_enumerable_max_bytes': (max_bytes, (F32, I64)),
    'train_toy_sbn': (toy_sgd, (F32, F64, I64)),
    'mismatch_rel_sigma': (rel_sigma, (F32, F64, I64)), 'smoothed_grad_sigma': (sigmas, (F32, I64)),
    'rebar': (est_floats('rebar', dict(scale=-2, tau=2, lr=1)), (F32, F64, I64)),
    'relax': (est_floats('relax', dict(scale=2, tau=1, lr=1, net_lr=1)), (F32, F64, I64)),
    'concrete': (est_floats('concrete', dict(tau=2)), (F32, F64, I64)), 'st_gumbel': (est_floats('st_gumbel', dict(tau=2)), (F32, F64, I64)),
    'reinforce_ema': (est_floats('reinforce', dict(decay=0), baseline='ema'), (F32, F64, I64)),
    'reinforce_nvil': (est_floats('reinforce', dict(lr=1), baseline='nvil'), (F32, F64, I64)),
    'reinmax': (est_floats('reinmax', dict(tau=2)), (F32, I64)), 'gst': (est_floats('gst', dict(tau=2, gap=0)), (F32, I64)),
    'gumbel_rao': (est_floats('gumbel_rao', dict(tau=2)), (F32, I64)),
    'decoupled_st': (est_floats('decoupled_st', dict(tau_forward=2, tau_backward=3)), (F32, I64)),
}


@pytest.mark.parametrize('case,dtype', [(c, t) for c, (_, ts) in CASES.items() for t in ts], ids=lambda v: getattr(v, '__name__', v))
def test_numpy_floats_are_taken_and_kept_as_floats(case, dtype):
    CASES[case][0](dtype)


def test_fractional_numpy_floats():
    "Fractional values too (np.float32(0.9) is not 0.9: kept as the float it is), and bool is still refused."
    e = estimator('reinforce', baseline='ema', decay=np.float32(0.9))
    assert type(e.decay) is float and e.decay == float(np.float32(0.9)) and plain(e.hparams())
    opt = Bop(groups(), gamma=np.float32(1e-3), betas=(np.float32(0.9), np.float64(0.999)))
    hypers(opt)
    with pytest.raises(ValueError, match='decay must be a number'): estimator('reinforce', baseline='ema', decay=True)
    with pytest.raises(ValueError, match='gamma must be'): Bop(groups(), gamma=True)


def test_rodeo_keeps_python_floats():
    "RODEO's step sizes given as numpy numbers are kept as floats: its spec and optimizer show plain numbers."
    import numpy as np
    import sbn_estimators.rodeo   # registers rodeo
    from sbn_estimators.estimators import estimator
    e = estimator('rodeo', lr=np.float32(0.5), net_lr=np.float32(0.25))
    assert (type(e.lr), type(e.net_lr)) == (float, float) and 'np.' not in e.spec


def test_cos_dataset_takes_a_numpy_fraction():
    "val=np.float32(0.1) is the fraction 0.1, as a float is (it was refused)."
    import numpy as np, torch
    from sbn_estimators.data import cos_dataset
    a, b = cos_dataset(val=np.float32(0.1), n_per_class=50), cos_dataset(val=0.1, n_per_class=50)
    assert all(torch.equal(a.splits[k][0], b.splits[k][0]) for k in ('train', 'val', 'test'))
