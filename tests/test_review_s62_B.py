"Review s62, fix B: non-finite numbers are said, not passed on: mismatch refuses a proxy gradient that is not finite (its cosine was NaN among ordinary ones) and measures the weights' rms in float64; evaluate gives NaN accuracies for outputs that are not finite (argmax of NaNs is 0: the class-0 frequency came out); a divergence caused by an optimizer step that left non-finite weights is reported as that, at that step, and --amp is suggested only to a run that uses it."
import math
import pytest, torch
from torch import nn
from sbn_estimators.layers import BinaryActivation
from sbn_estimators.mismatch import mismatch
from sbn_estimators.train import TrainConfig, Diverged, train, evaluate, load_data, build

torch.set_num_threads(1)


def _duo(scale):
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(8, 16), BinaryActivation('st'), nn.Linear(16, 16), BinaryActivation('st'),
                      nn.Linear(16, 16), BinaryActivation('st'), nn.Linear(16, 4))
    with torch.no_grad():
        for p in m.parameters(): p.mul_(scale)
    return m, torch.randn(32, 8), torch.randint(0, 4, (32,))


def test_mismatch_refuses_a_proxy_gradient_that_is_not_finite():
    m, x, y = _duo(1e15)
    with pytest.raises(ValueError, match=r"proxy 'identity_st': the gradient of '0.weight' that backprop gives is not finite"):
        mismatch(m, x, y, proxies=['identity_st'], samples=20)


def test_mismatch_rms_of_large_finite_weights_is_finite():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 3))
    with torch.no_grad(): m[0].weight.fill_(1e20)
    r = mismatch(m, torch.randn(8, 4) * 1e-20, torch.randint(0, 3, (8,)), proxies=[None], samples=20, names=['0.weight'])   # rms 1e20: its square overflowed float32
    assert math.isfinite(r['ceiling']['0.weight'])


def test_evaluate_gives_nan_accuracies_for_nan_outputs():
    cfg = TrainConfig(data='digits', n_train=128, val=64, n_test=100)
    data = load_data(cfg); model = build(cfg, data)[0]
    assert math.isfinite(evaluate(model, data, 'test', 2, seed=0)['acc'])
    with torch.no_grad(): model.layers[0].weight[0, 0] = math.nan
    r = evaluate(model, data, 'test', 2, seed=0)
    assert all(math.isnan(r[k]) for k in ('loss', 'acc', 'ens_acc', 'det_acc', 'det_loss')), r


def test_a_step_that_overflows_the_weights_is_named():
    cfg = TrainConfig(data='digits', epochs=1, optimizer='sgd', lr=0.1, weight_decay=1e3, schedule='constant')
    with pytest.raises(Diverged, match=r"step \d+: the weights are not finite after the optimizer's step \(lr 0.1\); try a smaller --lr or --weight-decay$") as e:
        train(cfg, progress=False)
    assert 'amp' not in str(e.value)
