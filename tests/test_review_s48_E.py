"Extensibility review (helper E): constructor errors name the estimator; sbn-gradeval spells --quiet as sbn-train; plugins: a name held by another file's class is refused, an edited plugin file is run again, datasets registered with the same rules and rolled back, a plugin's incomplete catalogue entry refused at load."
import hashlib, json, os, subprocess, sys
from pathlib import Path
import pytest
import torch
import sbn_estimators as S
from sbn_estimators import estimators as E
from sbn_estimators.gradeval import gradeval_cli, _parser as gradeval_parser

torch.set_num_threads(1)


def fails(f, exc=ValueError):
    with pytest.raises(exc) as e: f()
    return str(e.value)


# --- item 5: a constructor's ValueError names the estimator (a command makes several)
def test_constructor_error_names_the_estimator():
    assert fails(lambda: S.estimator('gumbel_rao:tau=0')) == "estimator 'gumbel_rao:tau=0': tau must be a number in [0.001, 1000], got 0"
    assert fails(lambda: S.estimator('concrete', tau=0)).startswith("estimator 'concrete:tau=0': tau must be")
    msg = fails(lambda: E.estimators_from_spec('concrete:tau=1,gumbel_rao:tau=0'))
    assert msg.startswith("estimator 'gumbel_rao:tau=0': "), msg


def test_train_names_the_estimator_once():
    from sbn_estimators.train import TrainConfig
    msg = fails(lambda: TrainConfig(estimator='gumbel_rao:tau=0'))
    assert msg == "estimator 'gumbel_rao:tau=0': tau must be a number in [0.001, 1000], got 0", msg


def test_gradeval_cli_names_the_estimator(capsys):
    with pytest.raises(SystemExit) as e:
        gradeval_cli(['--estimators', 'concrete:tau=1,gumbel_rao:tau=0', '--samples', '5', '--epochs', '0', '--quiet'])
    assert e.value.code == 2
    assert "estimator 'gumbel_rao:tau=0': tau must be" in capsys.readouterr().err


# --- item 7: --quiet, as sbn-train; --no-progress still read
def test_gradeval_quiet_and_no_progress_are_one_option():
    p = gradeval_parser()
    assert p.parse_args(['--quiet']).quiet and p.parse_args(['--no-progress']).quiet and not p.parse_args([]).quiet
    assert '--quiet' in p.format_help()
