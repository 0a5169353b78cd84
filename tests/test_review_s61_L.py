"Review s61 L (of this session's own fixes): _registered_float32 under threads; evaluate with a numpy seed; train_toy_sbn under a default device; run_schedules without an estimator."
import threading
import numpy as np
import pytest, torch
from sbn_estimators.estimators import estimator
from sbn_estimators.models import get_model

torch.set_num_threads(1)


def test_concurrent_builds_give_the_callers_default_dtype_back():
    "Two threads building layered models under a float64 default: one saved the other's float32 as 'old', and the default stayed float32."
    old = torch.get_default_dtype()
    est, after = estimator('st'), []
    try:
        for _ in range(4):
            torch.set_default_dtype(torch.float64)
            bar = threading.Barrier(2)
            def build(k):
                bar.wait()
                get_model('fmnist_bnn_conv' if k else 'duo_mlp', est if k else None, in_shape=(1, 28, 28) if k else (64,))
            ts = [threading.Thread(target=build, args=(k,)) for k in range(2)]
            for t in ts: t.start()
            for t in ts: t.join()
            after.append(torch.get_default_dtype())
    finally: torch.set_default_dtype(old)
    assert after == [torch.float64] * 4


def test_a_float32_default_is_left_alone(monkeypatch):
    calls = []
    monkeypatch.setattr(torch, 'set_default_dtype', lambda d: calls.append(d))
    get_model('duo_mlp', None, in_shape=(64,))
    assert calls == []   # the common case touches no global state


def test_evaluate_takes_a_numpy_seed():
    "seed=np.int64(5) passed the range check, then torch's Generator.manual_seed raised 'an integer is required'."
    from sbn_estimators.train import TrainConfig, load_data, build, evaluate
    cfg = TrainConfig(model='sbn_mlp:width=8', n_train=64, val=32, n_test=32)
    data = load_data(cfg)
    with torch.random.fork_rng(devices=[]): model, _ = build(cfg, data)
    assert evaluate(model, data, 'test', 2, seed=np.int64(5)) == evaluate(model, data, 'test', 2, seed=5)


def test_train_toy_sbn_builds_on_the_cpu_whatever_the_default_device():
    "Under set_default_device('meta') the toy net went to meta and the data stayed on the CPU: 'pass X.to(meta)', of an X the caller never had."
    from sbn_estimators.gradeval import train_toy_sbn
    torch.set_default_device('meta')
    try: net = train_toy_sbn(epochs=1)[0]
    finally: torch.set_default_device(None)
    assert {p.device.type for p in net.parameters()} == {'cpu'}


def test_run_schedules_takes_a_model_built_without_an_estimator():
    from sbn_estimators.train import run_schedules
    m = get_model('duo_mlp', None, in_shape=(64,), n_out=10)
    run_schedules(m, None, 0, 3)   # was AttributeError: 'NoneType' object has no attribute 'on_epoch'
    with pytest.raises(ValueError, match="model must be a torch.nn.Module"): run_schedules(None, estimator('st'), 0, 3)


def test_run_schedules_refuses_a_spec_string_naming_est():
    from sbn_estimators.sbn import SBNMLP
    from sbn_estimators.train import run_schedules
    with pytest.raises(ValueError, match=r"est must be an estimator \(estimator\('st'\) makes one of a spec\) or None, got str"):
        run_schedules(SBNMLP([2, 3, 1]), 'st', 0, 3)   # was AttributeError: 'str' object has no attribute 'on_epoch'
