"""Integer arguments take numpy integers (as float arguments take numpy floats) and keep them as Python ints: nothing
a report, a spec or a repr shows holds a numpy number."""
import json
import numpy as np
from conftest import plain
import pytest
import torch
from torch import nn
from sbn_estimators.binary_optimizers import BayesBiNN, binary_param_groups
from sbn_estimators.binaryduo import DuoBinary, QuantMLP, Quantize, duo_mlp
from sbn_estimators.binary_weights import BinaryWeightLinear
from sbn_estimators.biper import expected_quantization_error
from sbn_estimators.data import cos_dataset
from sbn_estimators.ede import ede_t, progressive_scale
from sbn_estimators.estimators import draw_estimates, draw_input_estimates, estimator
from sbn_estimators.gradeval import accuracy_curves, gradient_report
from sbn_estimators.layers import BinaryActivation
from sbn_estimators.mismatch import mismatch, proxy_estimator, smoothed_grad
from sbn_estimators.models import MODELS, BNNConvNet, get_model, register_model, sbn_mlp
from sbn_estimators.reste import ReSTE, ReSTESchedule
from sbn_estimators.sbn import SBNMLP, cos_data, init_sbn_
from sbn_estimators.stats import ks_threshold, student_t_tail, z_threshold
from sbn_estimators.train import evaluate
from sbn_estimators.unbiased import copula_correlation, dirichlet_copula


def est_ints(spec, ints, **fixed):
    "An estimator built with its integer parameters `ints` as numpy integers keeps them as ints."
    def check(t):
        e = estimator(spec, **fixed, **{k: t(v) for k, v in ints.items()})
        assert all(type(getattr(e, k)) is int and getattr(e, k) == v for k, v in ints.items())
        assert 'np.' not in e.spec + repr(e) and plain(e.hparams()) and plain(getattr(e, 'n_paths', 0))
    return check


def toy():
    X, Y = cos_data(4)
    return SBNMLP([2, 3, 1]), X, Y


def reste_schedule(t):
    s = ReSTESchedule(nn.Sequential(ReSTE()), epochs=t(10), last_epoch=t(2))
    assert plain(s.state_dict())
    s.load_state_dict({'epoch': t(3), 'epochs': t(10), 'o_end': 3.0})
    assert plain(s.state_dict()) and s.epoch == 3


def bayesbinn(t):
    groups = binary_param_groups(nn.Sequential(BinaryWeightLinear(3, 2), nn.Linear(2, 1)))
    groups[1]['train_size'] = t(50)
    opt = BayesBiNN(groups, train_size=t(100))
    assert [g['train_size'] for g in opt.param_groups] == [100, 50] and plain([g['train_size'] for g in opt.param_groups])


def get_models(t):
    m = get_model('sbn_mlp', in_shape=(t(4),), n_out=t(3), width=t(5), depth=t(2))
    assert plain(m.sizes) and m.sizes == [4, 5, 5, 3]
    assert plain(get_model('sbn_mlp:width=5', in_shape=(4,), n_out=3, depth=t(1)).sizes)
    c = get_model('fmnist_bnn_conv', est='st', in_shape=(1, 28, 28), n_out=t(3), width=t(2))
    assert plain([c.fc.in_features, c.fc.out_features]) and 'np.' not in repr(c)
    assert plain(BNNConvNet(lambda: BinaryActivation('st'), width=t(2)).fc.in_features)
    assert plain(get_model('fmnist_sbn_conv', in_shape=(t(1), t(28), t(28))).in_shape)
    register_model('numpy_int_probe', 'sbn', (4,), 'digits', 'keeps its parameters')(lambda est, in_shape, n_out, k=1: (in_shape, n_out, k))
    try: assert plain(get_model('numpy_int_probe', in_shape=(t(4),), n_out=t(2), k=t(3)))
    finally: MODELS.pop('numpy_int_probe')
    assert 'np.' not in repr(get_model('duo_mlp', est='st', in_shape=(4,), hidden=t(6))) + repr(duo_mlp(estimator('st'), (4,), hidden=t(6)))
    assert plain(sbn_mlp(in_shape=(4,), width=t(5), depth=t(2)).sizes)


def quant(t):
    q, d = Quantize(t(1), 'st'), DuoBinary(t(3), dim=t(-1))
    assert type(q.steps) is int and type(d.dim) is int and 'np.' not in repr(q) + repr(d)
    m = QuantMLP([t(4), t(5), t(2)])
    assert plain([m[0].in_features, m[0].out_features]) and 'np.' not in repr(m)


def report(t):
    net, X, Y = toy()
    r = gradient_report(net, X, Y, 'st', samples=t(4), seed=t(0), chunk=t(2), Ms=[t(1), t(2)], progress=False)
    assert plain({k: r[k] for k in ('samples', 'seed', 'chunk')}) and r['estimators']['st']['curves']['layer-0']['M'] == [1, 2]
    json.dumps(r)
    assert plain(accuracy_curves(torch.randn(4, 3), torch.randn(3), Ms=[t(1), t(3)])['M'])


def draws(t):
    net, X, Y = toy()
    assert draw_estimates(net, X, Y, estimator('st'), t(3), chunk=t(2))['layer-0'].shape[0] == 3
    assert draw_input_estimates(net, X, Y, estimator('st'), t(3)).shape[0] == 3


def mismatches(t):
    g = torch.Generator().manual_seed(0)
    with torch.random.fork_rng(devices=[]):   # an init whose perturbations flip some unit within 4 samples (seed 0's do not: a zero reference)
        torch.manual_seed(1)
        net = nn.Sequential(nn.Linear(8, 4), BinaryActivation(proxy_estimator('clipped_st')), nn.Linear(4, 3))
    x, y = torch.randn(6, 8, generator=g), torch.randint(0, 3, (6,), generator=g)
    r = mismatch(net, x, y, samples=t(4), chunk=t(2))
    assert type(r['samples']) is int
    f = lambda ps: (ps[0] ** 2).sum(-1)
    assert smoothed_grad(f, [torch.ones(2)], samples=t(4), chunk=t(3))[0].shape == (2,)


def stats(t):
    assert student_t_tail(2., t(5)) == student_t_tail(2., 5) and type(student_t_tail(2., t(5))) is float
    assert z_threshold(t(10), samples=t(20)) == z_threshold(10, samples=20) and type(z_threshold(t(10), samples=t(20))) is float
    assert ks_threshold(t(3)) == ks_threshold(3)


def evaluates(t):
    data = cos_dataset(val=t(10), n_per_class=20)
    assert len(data.splits['val'][1]) == 10
    model = get_model('sbn_mlp', in_shape=(2,), n_out=1, width=4, loss='logistic')
    assert set(evaluate(model, data, samples=t(2), batch_size=t(16))) >= {'loss', 'acc'}


def sbn(t):
    net = SBNMLP([t(2), t(3), t(1)])
    assert plain(net.sizes)
    init_sbn_(net, cos_data(4)[0], samples=t(2))


def copula(t):
    assert dirichlet_copula(t(3), (4,)).shape == (3, 4)
    assert copula_correlation(torch.full((2,), 0.3), t(3)).shape == (2,)


def biper(t):
    assert expected_quantization_error(20., 0.1, terms=t(1000)) == expected_quantization_error(20., 0.1, terms=1000)


def schedules(t):
    assert type(ede_t(t(2), t(10))) is float and ede_t(t(2), t(10)) == ede_t(2, 10)
    assert type(progressive_scale(t(1), t(4))) is float
    reste_schedule(t)


CASES = {
    'gumbel_rao': est_ints('gumbel_rao', dict(k=3)), 'double_cv': est_ints('double_cv', dict(n=3)),
    'rodeo': est_ints('rodeo', dict(n=3, hidden=5)), 'relax': est_ints('relax', dict(hidden=5)), 'arms': est_ints('arms', dict(n=3)),
    'reinforce_loo': est_ints('reinforce', dict(n=3), baseline='loo'), 'reinforce_nvil': est_ints('reinforce', dict(hidden=5), baseline='nvil'),
    'quantize': quant, 'bayesbinn': bayesbinn, 'models': get_models, 'gradient_report': report, 'draw_estimates': draws,
    'mismatch': mismatches, 'stats': stats, 'evaluate_and_val_count': evaluates, 'sbn': sbn, 'copula': copula,
    'epoch_schedules': schedules,
    'biper_terms': biper,
}


@pytest.mark.parametrize('dtype', [np.int64, np.int32])
@pytest.mark.parametrize('case', list(CASES))
def test_numpy_integers_are_taken_and_kept_as_ints(case, dtype):
    CASES[case](dtype)
