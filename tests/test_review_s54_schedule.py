"""Session 54: a parameter that an estimator's schedule makes moot is refused, not ignored.

- progressive_sign's `scale` is where s starts until the first `on_epoch`: the trainer's schedule (`est_schedule`, on by
  default) set s = 0 at epoch 0, so `progressive_sign:scale=0.5` trained exactly as `progressive_sign`.
- EDE's and RBNN's `t_max` is read by their schedule only: without it (`--no-est-schedule`, or a gradient report, which
  runs no schedule) t stays at t_min.
- RBNN with `t_floor >= t_max` has t = t_floor at every epoch: t_min and t_max did nothing."""
import pytest
from sbn_estimators.estimators import estimator
from sbn_estimators.train import TrainConfig
from test_gradeval_cli import one_line_error

DIGITS = dict(data='digits', model='sbn_mlp:width=8', epochs=1)


@pytest.mark.parametrize('spec,scheduled,param', [('progressive_sign:scale=0.5', True, 'scale=0.5'), ('ede:t_max=5', False, 't_max=5.0'),
                                                  ('rbnn:t_min=0.1,t_max=3', False, 't_max=3.0')])
def test_train_refuses_a_parameter_the_schedule_makes_moot(spec, scheduled, param):
    with pytest.raises(ValueError, match=f"{param} would be ignored"):
        TrainConfig(**DIGITS, estimator=spec, est_schedule=scheduled)
    TrainConfig(**DIGITS, estimator=spec, est_schedule=not scheduled)   # the other way it is used


@pytest.mark.parametrize('spec,scheduled', [('progressive_sign', True), ('progressive_sign:scale=0', True), ('ede', False), ('rbnn', False),
                                            ('ede:t_min=10,t_max=10', False), ('reste:o=3', False), ('reste:o=3', True)])
def test_defaults_and_points_of_a_schedule_are_accepted(spec, scheduled):
    TrainConfig(**DIGITS, estimator=spec, est_schedule=scheduled)


def test_gradeval_refuses_t_max_it_would_not_read(call):
    one_line_error(call(['--epochs', '0', '--estimators', 'exact,ede:t_max=5', '--samples', '10']), "t_max=5.0 would be ignored")
    r = call(['--epochs', '0', '--estimators', 'exact,ede:t_min=10,t_max=10', '--samples', '10'])
    assert r.returncode == 0, r.stderr


def test_rbnn_floor_at_or_above_t_max_is_refused():
    for spec in ('rbnn:t_floor=20', 'rbnn:t_floor=10', 'rbnn:t_floor=20,t_min=0.5,t_max=5'):
        with pytest.raises(ValueError, match="is at or above t_max"): estimator(spec)
    for spec in ('rbnn:t_floor=1', 'rbnn:t_floor=2,t_min=2,t_max=2'): estimator(spec)
