"Review s43 fix K: a NaN pre-activation gets a NaN gradient from every local estimator; BinaryActivation in evaluation refuses non-float input as training does; load_data hands plugin datasets an int count."
import math, pytest, torch
import sbn_estimators as S
from sbn_estimators.estimators import LocalEstimator
from sbn_estimators.layers import BinaryActivation, local_estimators
from sbn_estimators.reste import reste_slope

torch.set_num_threads(1)

@pytest.mark.parametrize('name', local_estimators())
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_nan_preactivation_nan_gradient(name, dtype):
    torch.manual_seed(0)
    est = S.estimator(name)
    assert isinstance(est, LocalEstimator)
    x = torch.tensor([math.nan, 0.5], dtype=dtype, requires_grad=True)
    est(x).sum().backward()
    assert x.grad[0].isnan(), (name, x.grad)
    assert x.grad[1].isfinite(), (name, x.grad)

@pytest.mark.parametrize('spec', ['identity_st', 'clipped_st', 'clipped_st:threshold=0.25', 'progressive_sign', 'reste', 'reste:o=1'])
def test_nan_slope_others_unchanged(spec):
    "NaN kept, the other slopes as before (infinite a: 1 for identity/progressive, 0 for clipped and ReSTE), in float16 too."
    est = S.estimator(spec)
    for dtype in (torch.float16, torch.float32, torch.float64):
        a = torch.tensor([math.nan, math.inf, -math.inf, -2., -0.25, 0., 0.1, 1., 3.], dtype=dtype, requires_grad=True)
        est(a).sum().backward()
        g = a.grad
        assert g[0].isnan() and g[1:].isfinite().all(), (spec, dtype, g)
        if spec in ('identity_st', 'progressive_sign'): assert (g[1:] == 1).all()
        if spec.startswith('clipped_st'):
            t = float(spec.split('=')[1]) if '=' in spec else 1.
            assert g[1:].tolist() == [float(abs(v) <= t) for v in a.detach()[1:].tolist()]
        if spec.startswith('reste'): assert g[1] == 0 and g[2] == 0 and g[-1] == 0

def test_reste_slope_nan_at_o_1():
    "At o = 1 (where the schedule starts) |z|^0 would be 1 at NaN: the slope keeps NaN."
    s = reste_slope(torch.tensor([math.nan, math.inf, 0.05, 1., 2.]), 1.)
    assert s[0].isnan() and s[1:].tolist() == [0., 1., 1., 0.]

@pytest.mark.parametrize('mode', ['det', 'sample'])
@pytest.mark.parametrize('dtype', [torch.int64, torch.int32, torch.bool, torch.uint8])
def test_binary_activation_eval_refuses_non_float(mode, dtype):
    act = BinaryActivation('st', eval_mode=mode)
    a = torch.tensor([1, 0, 1]).to(dtype)
    with pytest.raises(ValueError) as train_err: act.train()(a)
    with pytest.raises(ValueError) as eval_err: act.eval()(a)
    assert str(eval_err.value) == str(train_err.value)
    assert 'floating-point' in str(eval_err.value) and str(dtype) in str(eval_err.value) and "estimator 'st'" in str(eval_err.value)

def test_binary_activation_eval_unchanged_for_floats():
    a = torch.tensor([0.5, -1., 0., math.nan])
    out = BinaryActivation('st', eval_mode='det').eval()(a)
    assert out[:3].tolist() == [1., -1., 1.] and out[3].isnan()
    torch.manual_seed(0); s = BinaryActivation('st', eval_mode='sample').eval()(torch.zeros(1000, dtype=torch.float64))
    assert s.dtype == torch.float64 and set(s.tolist()) == {-1., 1.}

def test_load_data_plugin_dataset_gets_int_count(monkeypatch):
    "A plugin's dataset gets `val` as load_data passes it: a whole count as an int (its loader may slice with it)."
    from sbn_estimators import data as D, train as T
    got = {}
    def plugin_data(seed=0, val=0.1):
        got['val'] = val
        X, y = torch.randn(40, 64), torch.randint(0, 10, (40,))
        return D.Data('plugin_data', {'train': (X[val:], y[val:]), 'val': (X[:val], y[:val]), 'test': (X[:8], y[:8])}, n_out=10)
    monkeypatch.setitem(D.DATASETS, 'plugin_data', plugin_data)
    cfg = T.TrainConfig(data='plugin_data', model='sbn_mlp', val=5.0, epochs=1)
    data = T.load_data(cfg)
    assert type(got['val']) is int and got['val'] == 5 and len(data.splits['val'][1]) == 5
