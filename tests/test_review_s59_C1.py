"Review s59, helper C1: REINFORCE's stateful baselines do not learn from calls without a gradient; ReSTEIndicators hooks only calls that build a graph."
import torch
from torch import nn
from sbn_estimators.sbn import SBNMLP, init_sbn_, cos_data
from sbn_estimators.estimators import estimator
from sbn_estimators.reste import ReSTE, ReSTEIndicators

def _net(): return init_sbn_(SBNMLP([2, 3, 3, 1]), cos_data()[0], seed=0)

def test_reinforce_frozen_model_leaves_baselines():
    X, Y = cos_data()
    net = _net().requires_grad_(False)
    torch.manual_seed(0)
    ema, nvil = estimator('reinforce:baseline=ema'), estimator('reinforce:baseline=nvil')
    for _ in range(3):
        for est in (ema, nvil):
            s = est.surrogate(net, X, Y)
            assert not s.requires_grad and s.ndim == 0
    assert ema.ema is None and ema.state_dict() == {}
    assert nvil.baseline_net is None and nvil.state_dict() == {}

def test_reinforce_frozen_after_training_keeps_step_count():
    X, Y = cos_data()
    net = _net()
    torch.manual_seed(0)
    ema, nvil = estimator('reinforce:baseline=ema'), estimator('reinforce:baseline=nvil')
    for est in (ema, nvil): est.surrogate(net, X, Y).backward()          # training: both learn
    e0 = ema.ema.clone()
    steps = lambda: sorted({int(v['step']) for v in nvil.state_dict()['opt']['state'].values()})
    assert steps() == [1]
    net.requires_grad_(False)
    for _ in range(3):
        for est in (ema, nvil): est.surrogate(net, X, Y)
    assert torch.equal(ema.ema, e0) and steps() == [1]
    net.requires_grad_(True)
    for est in (ema, nvil): est.surrogate(net, X, Y)                     # training again: they learn again
    assert not torch.equal(ema.ema, e0) and steps() == [2]

def test_reinforce_input_with_grad_still_tunes():
    X, Y = cos_data()
    net = _net().requires_grad_(False)
    est = estimator('reinforce:baseline=ema')
    s = est.surrogate(net, X.clone().requires_grad_(True), Y)            # the input's gradient: still an estimate
    assert s.requires_grad and est.ema is not None

def test_reinforce_frozen_value_unchanged():
    X, Y = cos_data()
    net = _net()
    torch.manual_seed(1); v1 = estimator('reinforce:baseline=ema').surrogate(net, X, Y).item()
    net.requires_grad_(False)
    torch.manual_seed(1); v2 = estimator('reinforce:baseline=ema').surrogate(net, X, Y).item()
    assert v1 == v2

def test_reste_indicators_no_grad_calls_get_no_hook():
    w = nn.Parameter(torch.randn(4, 3, generator=torch.Generator().manual_seed(0)))
    act = ReSTE(); ind = ReSTEIndicators(act)
    with torch.no_grad():
        for _ in range(1000): act(w)
    assert ind.grad_handles == []
    assert not w._backward_hooks
    act(w).sum().backward()
    r = ind.compute(); ind.remove()
    assert all(r[f'ReSTE[{i}]']['gradient_stability'] is None for i in range(1000))
    assert r['ReSTE[1000]']['gradient_stability'] > 0

def test_reste_indicators_inference_mode_and_training():
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(1), requires_grad=True)
    act = ReSTE(); ind = ReSTEIndicators(act)
    with torch.inference_mode(): act(x.detach())
    act(x).sum().backward(); act(x).sum().backward()
    assert len(ind.grad_handles) == 2
    r = ind.compute(); ind.remove()
    assert r['ReSTE[0]']['gradient_stability'] is None
    assert r['ReSTE[1]']['gradient_stability'] > 0 and r['ReSTE[2]']['gradient_stability'] > 0
