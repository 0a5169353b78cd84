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
    assert fails(lambda: S.estimator('concrete', tau=0)).startswith("estimator 'concrete' with tau=0: tau must be")
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


# --- item 2: an edited plugin file runs again (Jupyter's edit-and-retry loop)
def test_an_edited_plugin_file_runs_again(tmp_path, registries):
    f = tmp_path / 'pl.py'
    code = ("import torch\nfrom sbn_estimators.estimators import register_estimator\nfrom sbn_estimators.straight_through import StraightThrough\n"
            "@register_estimator('rl_e_st')\nclass RlST(StraightThrough):\n    def proxy(self, a): return a\n"
            "    def slope(self, a): return torch.full_like(a, {})\n")
    f.write_text(code.format('3.0')); S.load_plugins(str(f))
    assert S.estimator('rl_e_st').slope(torch.zeros(1)).item() == 3.0
    S.load_plugins(str(f))   # unchanged: not run again
    f.write_text(code.format('7.0')); S.load_plugins(str(f))
    assert S.estimator('rl_e_st').slope(torch.zeros(1)).item() == 7.0
    f.write_text(code.format('7.0') + "raise RuntimeError('boom')\n")   # an edit that fails leaves the last good run
    assert 'boom' in fails(lambda: S.load_plugins(str(f)))
    assert S.estimator('rl_e_st').slope(torch.zeros(1)).item() == 7.0


def test_an_edited_plugin_may_change_its_own_catalogue_entry(tmp_path, registries):
    from sbn_estimators.catalogue import CATALOGUE
    f = tmp_path / 'cat.py'
    code = ("import torch\nfrom sbn_estimators.estimators import register_estimator\nfrom sbn_estimators.straight_through import StraightThrough\n"
            "from sbn_estimators.catalogue import CATALOGUE\n"
            "@register_estimator('cat_e_st')\nclass CatST(StraightThrough):\n    def proxy(self, a): return a\n"
            "    def slope(self, a): return torch.ones_like(a)\n"
            "CATALOGUE['cat_e_st'] = dict(forward='x', backward='1', cost='{}', unbiased=False, refs=())\n")
    f.write_text(code.format('one pass')); S.load_plugins(str(f))
    f.write_text(code.format('two passes')); S.load_plugins(str(f))
    assert CATALOGUE['cat_e_st']['cost'] == 'two passes'


# --- item 3: datasets
def test_register_dataset_refuses_a_held_name_and_a_plugin_cannot_replace_digits(tmp_path, registries):
    from sbn_estimators.data import DATASETS, register_dataset, digits_data, get_data
    from sbn_estimators.catalogue import DATA_REFS
    f = tmp_path / 'ds.py'
    f.write_text("from sbn_estimators.data import register_dataset, digits_data\n"
                 "@register_dataset('few_e_digits')\ndef few(seed=0, val=0.1): return digits_data(seed=seed, val=val)\n")
    S.load_plugins(str(f))
    assert get_data('few_e_digits').name == 'digits'
    assert "dataset name 'digits' is already registered by sbn_estimators.data.digits_data" in fails(lambda: register_dataset('digits')(lambda seed=0: None))
    for name, text in (('over.py', "from sbn_estimators.data import DATASETS, digits_data\nDATASETS['digits'] = lambda seed=0, val=0.1: digits_data(seed=seed, val=0.9)\n"),
                       ('refs.py', "from sbn_estimators.catalogue import DATA_REFS\nDATA_REFS['digits'] = ('nosuchpaper',)\n")):
        (tmp_path / name).write_text(text)
        assert 'changed' in fails(lambda: S.load_plugins(str(tmp_path / name)))
    assert DATASETS['digits'] is digits_data and DATA_REFS['digits'] == ('alpaydin1998optdigits',)


def test_a_failed_plugin_leaves_no_dataset_behind(tmp_path, registries):
    from sbn_estimators.data import DATASETS
    f = tmp_path / 'fail.py'
    f.write_text("from sbn_estimators.data import DATASETS, digits_data\nDATASETS['leftover_e'] = digits_data\nraise RuntimeError('boom')\n")
    fails(lambda: S.load_plugins(str(f)))
    assert 'leftover_e' not in DATASETS


def test_unknown_data_in_train_names_plugins(capsys):
    from sbn_estimators.train import train_cli, TrainConfig
    assert '--plugins' in fails(lambda: TrainConfig(data='nope'))
    with pytest.raises(SystemExit) as e: train_cli(['--data', 'nope', '--epochs', '1'])
    assert e.value.code == 2 and '--plugins' in capsys.readouterr().err


# --- item 4: a plugin's incomplete catalogue entry
def test_a_plugins_incomplete_catalogue_entry_is_refused_at_load(tmp_path, registries):
    from sbn_estimators.catalogue import CATALOGUE, estimator_card
    f = tmp_path / 'inc.py'
    f.write_text("import torch\nfrom sbn_estimators.estimators import register_estimator\nfrom sbn_estimators.straight_through import StraightThrough\n"
                 "from sbn_estimators.catalogue import CATALOGUE\n"
                 "@register_estimator('inc_e_st')\nclass IncST(StraightThrough):\n    def proxy(self, a): return a\n"
                 "    def slope(self, a): return torch.ones_like(a)\n"
                 "CATALOGUE['inc_e_st'] = dict(forward='x', cost='one pass', unbiased=False, refs=())\n")
    msg = fails(lambda: S.load_plugins(str(f)))
    assert "inc_e_st: local estimator, entry lacks 'backward'" in msg, msg
    assert 'inc_e_st' not in CATALOGUE and 'inc_e_st' not in E.ESTIMATORS


def test_estimator_card_names_the_missing_key(registries):
    from sbn_estimators.catalogue import CATALOGUE, estimator_card
    CATALOGUE['st'] = {k: v for k, v in CATALOGUE['st'].items() if k != 'cost'}
    msg = fails(lambda: estimator_card('st'))
    assert "entry lacks 'cost'" in msg, msg


def test_unknown_data_with_plugins_says_they_register_no_dataset(tmp_path, capsys, registries):
    from sbn_estimators.train import train_cli
    (tmp_path / 'empty.py').write_text("X = 1\n")
    with pytest.raises(SystemExit) as e: train_cli(['--plugins', str(tmp_path / 'empty.py'), '--data', 'nope', '--epochs', '1'])
    err = capsys.readouterr().err
    assert e.value.code == 2 and 'register no dataset of that name' in err and 'register_dataset' in err, err
