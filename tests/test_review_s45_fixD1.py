"Review s45, fix D1: under torchrun the estimators that learn a state of their own (RODEO, REBAR, RELAX, REINFORCE's ema/nvil baselines) are refused (each process would learn its own, last.pt keeps rank 0's); the training step reads the device at most once (the loss and accuracy sums stay on the device until the epoch's end)."
import sys
import pytest, torch
import sbn_estimators.train as T
from sbn_estimators.train import TrainConfig, train
from sbn_estimators.estimators import estimator

torch.set_num_threads(1)

SMALL = dict(epochs=1, n_train=256, n_test=64, val=64, device='cpu', eval_samples=1)


def _fake_world(monkeypatch, world=2):
    "Two processes as `_run` sees them, without a process group: rank 0, averaging a no-op."
    monkeypatch.setattr(T, '_dist_setup', lambda device: (0, world, torch.device('cpu')))
    monkeypatch.setattr(T, '_all_average', lambda ts: None)
    monkeypatch.setattr(T, '_rng_state', lambda world: [{'cpu': torch.get_rng_state(), 'cuda': []}])   # as `_rng_state` saves it


@pytest.mark.parametrize('spec', ['rodeo', 'rebar', 'relax', 'reinforce:baseline=ema', 'reinforce:baseline=nvil'])
def test_learning_estimators_are_refused_with_several_processes(monkeypatch, tmp_path, spec):
    _fake_world(monkeypatch)
    with pytest.raises(ValueError, match=rf"estimator '{spec}' learns a state of its own .* 2 processes .* train it in one process"):
        train(TrainConfig(estimator=spec, **SMALL), out=tmp_path / 'r', progress=False)   # was: trained, each process its own state
    assert not (tmp_path / 'r' / 'last.pt').exists()


def test_estimators_without_learned_state_train_with_several_processes(monkeypatch):
    _fake_world(monkeypatch)
    for spec in ('arm', 'reinforce'):   # reinforce without a baseline learns nothing
        r = train(TrainConfig(estimator=spec, **SMALL), progress=False)
        assert 'model' in r and r['seconds_per_epoch'] > 0


def test_a_loaded_state_is_refused_before_any_step():
    est = estimator('reinforce:baseline=ema')
    est.load_state_dict({'ema': torch.tensor(0.5)})   # what a resumed run loads from last.pt
    with pytest.raises(ValueError, match="estimator 'reinforce:baseline=ema' learns a state of its own as it trains \\(ema\\)"):
        T._check_one_process(est, 2)
    T._check_one_process(est, 1)   # one process: fine


def test_a_resumed_learning_estimator_is_refused_with_several_processes(monkeypatch, tmp_path):
    class Stop(Exception): pass
    def stop(epoch, row): raise Stop()
    cfg = TrainConfig(estimator='rodeo', **dict(SMALL, epochs=2))
    with pytest.raises(Stop): train(cfg, out=tmp_path / 'r', progress=False, callbacks=[stop])   # one process: last.pt of epoch 1
    assert torch.load(tmp_path / 'r' / 'last.pt', weights_only=False)['estimator']
    _fake_world(monkeypatch)
    with pytest.raises(ValueError, match=r"estimator 'rodeo' learns a state of its own as it trains \(alphas, .*train it in one process"):
        train(cfg, out=tmp_path / 'r', progress=False, resume=True)


def test_one_process_still_trains_a_learning_estimator():
    r = train(TrainConfig(estimator='rodeo', **SMALL), progress=False)
    assert 'model' in r and r['seconds_per_epoch'] > 0


def test_a_training_step_reads_the_device_at_most_once(monkeypatch):
    "Host reads (`bool`, `item`, `tolist`, `float`, `int` of a tensor) made by train.py between a step's start and the epoch's end check: at most one per step, plus the epoch's one read of its sums (was: 4 per step)."
    count, on = [0], [False]
    for name in ('item', '__bool__', 'tolist', '__float__', '__int__'):
        orig = getattr(torch.Tensor, name)
        def f(self, *a, _orig=orig, **k):
            if on[0] and sys._getframe(1).f_code.co_filename == T.__file__: count[0] += 1
            return _orig(self, *a, **k)
        monkeypatch.setattr(torch.Tensor, name, f)
    steps, _step, _cw = [0], T._step, T._check_finite_weights
    def step(*a, **k): steps[0] += 1; on[0] = True; return _step(*a, **k)
    def cw(*a, **k): on[0] = False; return _cw(*a, **k)
    monkeypatch.setattr(T, '_step', step); monkeypatch.setattr(T, '_check_finite_weights', cw)
    train(TrainConfig(**SMALL), progress=False)
    assert steps[0] == 4 and count[0] <= steps[0] + 1, (steps[0], count[0])
