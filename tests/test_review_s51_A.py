"Review s51 (fix A): the refusals of non-finite inputs and targets read grammatically, the argument's name first: 'x (inputs) has N non-finite value(s)', not 'x: inputs has ...'."
import math
import numpy as np
import pytest, torch
import sbn_estimators.train as T
from sbn_estimators.core import check_inputs, check_targets
from sbn_estimators.data import Data
from sbn_estimators.sbn import SBNMLP, cos_data, init_sbn_, load_sbn


def _msg(f):
    with pytest.raises(ValueError) as e: f()
    return str(e.value)


def test_check_inputs_and_targets_name_the_argument_then_what_it_holds():
    x = torch.randn(8, 2); x[1, 0] = math.nan
    assert _msg(lambda: check_inputs(x, (2,))).startswith("x (inputs) has 1 non-finite value(s) (NaN or inf)")
    assert _msg(lambda: check_inputs(x, (2,), name='X')).startswith("X (inputs) has 1 non-finite value(s)")
    y = torch.ones(8, 1); y[2] = math.inf
    assert _msg(lambda: check_targets(y, 'logistic', 1, 8)).startswith("y (targets) has 1 non-finite value(s)")
    mse = lambda eta, y: (eta - y).pow(2).sum(-1)
    assert _msg(lambda: check_targets(torch.full((8, 3), math.nan), mse, 3, 8, name='Y')).startswith("Y (targets) has 24 non-finite value(s)")
    # a name with its own parenthesis gets what it holds inside it, not a second one
    assert _msg(lambda: check_targets(y, 'logistic', 1, 8, name="data 'd' (test split)")).startswith("data 'd' (test split, targets) has 1 non-finite")


def test_callers_give_the_grammatical_message(tmp_path):
    X, Y = cos_data(5)
    assert "X (inputs) has 20 non-finite value(s)" in _msg(lambda: init_sbn_(SBNMLP([2, 3, 1]), X * math.nan))
    np.savez(tmp_path / 'nan.npz', X=X.numpy() * np.nan, Y=Y.numpy(), W0=np.zeros((3, 2)), b0=np.zeros(3), W1=np.zeros((1, 3)), b1=np.zeros(1))
    assert "nan.npz: X (inputs) has 20 non-finite value(s)" in _msg(lambda: load_sbn(tmp_path / 'nan.npz'))
    for bad in ("inputs has", "targets has"):
        assert bad not in _msg(lambda: init_sbn_(SBNMLP([2, 3, 1]), X * math.nan))


def test_train_values_messages_read_grammatically():
    g = torch.Generator().manual_seed(0)
    X = torch.rand(40, 4, generator=g); y = torch.where(torch.rand(40, 1, generator=g) < 0.5, -1., 1.)
    net = SBNMLP([4, 3, 1], dtype=torch.float32)
    Xb = X.clone(); Xb[5, 1] = math.nan
    assert _msg(lambda: T._check_train_values(Data('d', {'train': (Xb, y)}, 1, 'logistic'), net)).startswith(
        "data 'd' (training split, inputs 0..39) has 1 non-finite value(s)")
    yb = y.clone(); yb[3] = math.nan
    assert _msg(lambda: T._check_train_values(Data('d', {'train': (X, yb)}, 1, 'logistic'), net)).startswith(
        "data 'd' (training split, targets) has 1 non-finite value(s)")
