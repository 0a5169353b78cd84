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


# --- plugins: each test registers names of its own, and leaves the registries as it found them
@pytest.fixture
def registries():
    from sbn_estimators.models import MODELS, MODEL_TRANSFORMS
    from sbn_estimators.catalogue import CATALOGUE, REFERENCES, DATA_REFS, MODEL_REFS
    from sbn_estimators.data import DATASETS
    S.list_estimators()
    books = (E.ESTIMATORS, E.ALIASES, MODELS, MODEL_TRANSFORMS, CATALOGUE, REFERENCES, DATASETS, DATA_REFS, MODEL_REFS)
    saved = [dict(b) for b in books]
    yield
    for b, s in zip(books, saved): b.clear(); b.update(s)


EST = '''import torch
from sbn_estimators.estimators import register_estimator
from sbn_estimators.straight_through import StraightThrough
K = {k}
@register_estimator('{name}')
class FooST(StraightThrough):
    def proxy(self, a): return K * torch.tanh(a / 2)
    def slope(self, a): return K / 2 * (1 - torch.tanh(a / 2) ** 2)
'''
MODEL = '''import math
from sbn_estimators.models import register_model
from sbn_estimators.sbn import SBNMLP
W = {k}
@register_model('{name}', 'sbn', (None,), 'digits', 'x')
def foo_net(est=None, in_shape=(64,), n_out=10): return SBNMLP([math.prod(in_shape), W, n_out])
'''


def _two_files(tmp_path, text, name):
    for d, k in (('a', 1), ('b', 5)):
        (tmp_path / d).mkdir(exist_ok=True); (tmp_path / d / 'foo.py').write_text(text.format(k=k, name=name))
    return tmp_path / 'a' / 'foo.py', tmp_path / 'b' / 'foo.py'


def test_another_files_estimator_of_alike_code_is_refused(tmp_path, registries):
    "Same class name and code, another module global: the second file's class was taken for the first's defined again, and replaced it silently."
    a, b = _two_files(tmp_path, EST, 'foo_e_st')
    S.load_plugins(str(a))
    msg = fails(lambda: S.load_plugins(str(b)))
    assert "estimator name 'foo_e_st' is already registered by" in msg and str(a.resolve()) in msg and str(b.resolve()) in msg, msg
    assert S.estimator('foo_e_st').proxy(torch.tensor([100.])).item() == pytest.approx(1.0)   # the first file's K
    S.load_plugins(str(a))   # its own file again: no error


def test_another_files_model_of_alike_code_is_refused(tmp_path, registries):
    from sbn_estimators.models import MODELS
    a, b = _two_files(tmp_path, MODEL, 'foo_e_net')
    S.load_plugins(str(a)); held = MODELS['foo_e_net'].build
    msg = fails(lambda: S.load_plugins(str(b)))
    assert "model name 'foo_e_net' is already registered by" in msg and str(b.resolve()) in msg, msg
    assert MODELS['foo_e_net'].build is held


def test_a_notebook_cell_run_again_still_registers_again(registries):
    ns = {'__name__': '__main__'}
    code = EST.format(k=1, name='foo_e_cell').replace('K = 1', 'K = {}')
    for k in (1, 3):
        exec(compile(code.format(k), '<cell>', 'exec'), ns)
        assert E.ESTIMATORS['foo_e_cell'] is ns['FooST']
