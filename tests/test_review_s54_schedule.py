"""Session 54: a parameter that an estimator's schedule makes moot is refused, not ignored.

- progressive_sign's `scale` is where s starts until the first `on_epoch`: the trainer's schedule (`est_schedule`, on by
  default) set s = 0 at epoch 0, so `progressive_sign:scale=0.5` trained exactly as `progressive_sign`.
- EDE's and RBNN's `t_max` is read by their schedule only: without it (`--no-est-schedule`, or a gradient report, which
  runs no schedule) t stays at t_min.
- RBNN with `t_floor >= t_max` has t = t_floor at every epoch: t_min and t_max did nothing."""
import pytest
from sbn_estimators.estimators import estimator
from sbn_estimators.train import TrainConfig, train
from test_gradeval_cli import one_line_error

DIGITS = dict(data='digits', model='sbn_mlp:width=8', epochs=1)


@pytest.mark.parametrize('spec,scheduled,param', [('progressive_sign:scale=0.5', True, 'scale=0.5'), ('ede:t_max=5', False, 't_max=5.0'),
                                                  ('rbnn:t_min=0.1,t_max=3', False, 't_max=3.0')])
def test_train_refuses_a_parameter_the_schedule_makes_moot(spec, scheduled, param):
    with pytest.raises(ValueError, match=f"{param} would be ignored"):
        train(TrainConfig(**DIGITS, estimator=spec, est_schedule=scheduled), smoke=True, progress=False)
    train(TrainConfig(**DIGITS, estimator=spec, est_schedule=not scheduled), smoke=True, progress=False)   # the other way it is used


@pytest.mark.parametrize('spec,scheduled', [('progressive_sign', True), ('progressive_sign:scale=0', True), ('ede', False), ('rbnn', False),
                                            ('ede:t_min=10,t_max=10', False), ('reste:o=3', False), ('reste:o=3', True)])
def test_defaults_and_points_of_a_schedule_are_accepted(spec, scheduled):
    train(TrainConfig(**DIGITS, estimator=spec, est_schedule=scheduled), smoke=True, progress=False)


def test_a_run_trained_before_the_check_still_resumes(tmp_path, monkeypatch):
    "A run folder whose config sets a moot parameter (written before the check) resumes as it was trained; only a new run is refused."
    import sbn_estimators.train as T
    cfg = TrainConfig(**{**DIGITS, 'epochs': 2}, estimator='ede:t_max=5', est_schedule=False, eval_samples=1)
    with pytest.raises(ValueError, match="t_max=5.0 would be ignored"): train(cfg, tmp_path / 'r', progress=False)
    def stop(epoch, row):
        if epoch == 1: raise KeyboardInterrupt
    with monkeypatch.context() as m:
        m.setattr(T, 'check_schedule_params', lambda est, *a: est)   # as an older version wrote the folder
        with pytest.raises(KeyboardInterrupt): train(cfg, tmp_path / 'r', progress=False, callbacks=[stop])
    assert train(cfg, tmp_path / 'r', progress=False, resume=True)['test_acc'] > 0


def test_gradeval_refuses_t_max_it_would_not_read(call):
    one_line_error(call(['--epochs', '0', '--estimators', 'exact,ede:t_max=5', '--samples', '10']), "t_max=5.0 would be ignored")
    r = call(['--epochs', '0', '--estimators', 'exact,ede:t_min=10,t_max=10', '--samples', '10'])
    assert r.returncode == 0, r.stderr


def test_rbnn_floor_at_or_above_t_max_is_refused():
    for spec in ('rbnn:t_floor=20', 'rbnn:t_floor=10', 'rbnn:t_floor=20,t_min=0.5,t_max=5'):
        with pytest.raises(ValueError, match="is at or above t_max"): estimator(spec)
    for spec in ('rbnn:t_floor=1', 'rbnn:t_floor=2,t_min=2,t_max=2'): estimator(spec)


def test_summary_refuses_too(capsys):
    from sbn_estimators.train import train_cli
    with pytest.raises(SystemExit) as e: train_cli(['--data', 'cos', '--estimator', 'ede:t_max=5', '--no-est-schedule', '--summary', '--threads', '1'])
    assert e.value.code == 2 and 't_max=5.0 would be ignored' in capsys.readouterr().err


def test_a_subclass_that_fixes_t_max_is_not_refused():
    "A plugin's EDE whose __init__ fixes t_max (no such parameter): nothing of it was given, nothing is moot (was: KeyError 't_max')."
    from sbn_estimators.ede import EDE
    from sbn_estimators.estimators import check_schedule_params
    class SharpEDE(EDE):
        name = 'sharp_ede'
        def __init__(self, noise='logistic', deterministic=False): super().__init__(noise, deterministic, t_min=0.1, t_max=5.)
    for scheduled in (True, False): check_schedule_params(SharpEDE(), scheduled)
