"Review of the plugin registry rules and the unified number check (helper E2): a refused re-run of an edited plugin file keeps its earlier module; a refused name held by a cell or script says so; a page or script re-running what its own package exports replaces it; an edited plugin file's re-run leaves behind nothing it no longer registers; estimator() quotes a spec as written; check_number refuses tensors except where torch's optimizers take them; get_model's unknown model gives the --plugins hint; check_number(low=0, positive=True) says > 0."
import os, pickle, subprocess, sys, textwrap
from pathlib import Path
import pytest
import torch
import sbn_estimators as S
from sbn_estimators import estimators as E

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]


def fails(f, exc=ValueError):
    with pytest.raises(exc) as e: f()
    return str(e.value)




HEAD = ("import torch\nfrom sbn_estimators.estimators import register_estimator\nfrom sbn_estimators.straight_through import StraightThrough\n"
        "from sbn_estimators.catalogue import CATALOGUE, DATA_REFS\n")
def est(name, cls='Foo', aliases=(), slope='1.0'):
    return (f"@register_estimator({name!r}, aliases={tuple(aliases)!r})\nclass {cls}(StraightThrough):\n    \"{cls}.\"\n"
            f"    def proxy(self, a): return a\n    def slope(self, a): return torch.full_like(a, {slope})\n"
            f"CATALOGUE[{name!r}] = dict(forward='x', backward='1', cost='one pass', unbiased=False, refs=())\n")


# --- item 1: a refused re-run of an edited file keeps the earlier run's module (its classes stay registered, and usable)
def test_a_refused_rerun_keeps_the_earlier_module(tmp_path, registries):
    from sbn_estimators.catalogue import estimator_card
    f = tmp_path / 'keep_e2.py'
    f.write_text(HEAD + est('keep_e2_st')); S.load_plugins(str(f))
    cls = E.ESTIMATORS['keep_e2_st']; mod = sys.modules[cls.__module__]
    f.write_text(HEAD + est('keep_e2_st', slope='2.0') + "DATA_REFS['digits'] = 'changed'\n")
    assert 'changed' in fails(lambda: S.load_plugins(str(f)))
    assert E.ESTIMATORS['keep_e2_st'] is cls and sys.modules[cls.__module__] is mod   # was: the module popped
    assert 'keep_e2_st' in estimator_card('keep_e2_st')   # was: TypeError "is a built-in class"
    assert pickle.loads(pickle.dumps(S.estimator('keep_e2_st'))).slope(torch.zeros(1)).item() == 1.0
    f.write_text(HEAD + est('keep_e2_st', slope='3.0')); S.load_plugins(str(f))   # the edit fixed: runs again
    assert S.estimator('keep_e2_st').slope(torch.zeros(1)).item() == 3.0
    f = tmp_path / 'first_e2.py'   # a refused first run: no module left (a retry imports it again)
    f.write_text(HEAD + est('first_e2_st') + "DATA_REFS['digits'] = 'changed'\n")
    fails(lambda: S.load_plugins(str(f)))
    assert not any(m.startswith('sbn_plugin_first_e2_') for m in sys.modules) and 'first_e2_st' not in E.ESTIMATORS


# --- item 2: a holder with no file is named as such, not "defined in None"
def test_held_by_a_cell_or_script_with_no_file(tmp_path):
    f = tmp_path / 'plug_e2.py'
    f.write_text(HEAD + est('nofile_e2_st', slope='2.0'))   # other code: identical code from a file would be the cell's class defined again
    code = HEAD + est('nofile_e2_st') + f"from sbn_estimators import load_plugins\ntry: load_plugins({str(f)!r})\nexcept ValueError as e: print(e)\n"
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=tmp_path,
                       env={**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 0, r.stderr
    assert 'already registered by __main__.Foo' in r.stdout and 'a notebook cell or script with no file' in r.stdout and 'None' not in r.stdout, r.stdout


# --- item 3: identical code in __main__ (a page or script re-running what its own package exports) replaces the package's class
def test_main_replaces_the_same_class_of_ones_own_module(tmp_path, registries):
    pkg = tmp_path / 'mypkg_e2'; pkg.mkdir()
    (pkg / '__init__.py').write_text(''); (pkg / 'est.py').write_text(HEAD + est('myst_e2'))
    script = tmp_path / 'page.py'
    script.write_text(f"import sys; sys.path.insert(0, {str(tmp_path)!r})\nimport mypkg_e2.est\n" + HEAD + est('myst_e2') +
                      "from sbn_estimators.estimators import ESTIMATORS\nprint(ESTIMATORS['myst_e2'].__module__)\n")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path,
                       env={**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 0 and r.stdout.strip() == '__main__', r.stderr[-600:]


def test_main_with_other_code_is_still_refused(tmp_path, registries):
    import importlib.util
    (tmp_path / 'own_e2.py').write_text(HEAD + est('own_e2_st'))
    spec = importlib.util.spec_from_file_location('own_e2', tmp_path / 'own_e2.py'); m = importlib.util.module_from_spec(spec)
    sys.modules['own_e2'] = m
    try:
        spec.loader.exec_module(m)
        msg = fails(lambda: exec(compile(HEAD + est('own_e2_st', slope='5.0'), '<cell>', 'exec'), {'__name__': '__main__'}))   # other code: refused
        assert "estimator name 'own_e2_st' is already registered by own_e2.Foo" in msg and 'None' not in msg, msg
        ns = {'__name__': '__main__'}
        exec(compile(HEAD + est('own_e2_st'), '<cell>', 'exec'), ns)   # the same code: replaces it
        assert E.ESTIMATORS['own_e2_st'] is ns['Foo']
    finally: sys.modules.pop('own_e2', None)


def test_main_replaces_ones_own_model_and_transform(tmp_path, registries):
    import importlib.util
    from sbn_estimators.models import MODELS, MODEL_TRANSFORMS
    code = ("import math\nfrom sbn_estimators.models import register_model, register_transform\nfrom sbn_estimators.sbn import SBNMLP\n"
            "@register_model('own_e2_net', 'sbn', (None,), 'digits', 'x')\ndef own_net(est=None, in_shape=(64,), n_out=10): return SBNMLP([math.prod(in_shape), 8, n_out])\n"
            "@register_transform('own_e2_tf')\ndef own_tf(model): return model\n")
    (tmp_path / 'own_e2m.py').write_text(code)
    spec = importlib.util.spec_from_file_location('own_e2m', tmp_path / 'own_e2m.py'); m = importlib.util.module_from_spec(spec)
    sys.modules['own_e2m'] = m
    try:
        spec.loader.exec_module(m)
        ns = {'__name__': '__main__'}
        exec(compile(code, '<cell>', 'exec'), ns)
        assert MODELS['own_e2_net'].build is ns['own_net'] and MODEL_TRANSFORMS['own_e2_tf'] is ns['own_tf']
    finally: sys.modules.pop('own_e2m', None)


# --- item 4: an edited file's re-run leaves nothing behind that it no longer registers; a failed or refused re-run restores it all
def test_an_edited_file_drops_what_it_no_longer_registers(tmp_path, registries):
    from sbn_estimators.catalogue import CATALOGUE, check_catalogue
    f = tmp_path / 'ren_e2.py'
    f.write_text(HEAD + est('foo_e2a', aliases=('f_e2a',)) + est('bar_e2a', cls='Bar')); S.load_plugins(str(f))
    f.write_text(HEAD + est('foo_e2b', aliases=('f_e2b',))); S.load_plugins(str(f))   # renamed; Bar deleted
    for gone in ('foo_e2a', 'f_e2a', 'bar_e2a'): assert gone not in S.list_estimators(), gone
    assert 'foo_e2a' not in CATALOGUE and 'bar_e2a' not in CATALOGUE and E.ALIASES['f_e2b'] == 'foo_e2b'
    check_catalogue()
    f.write_text(HEAD + est('foo_e2b', cls='Foo2', aliases=('f_e2b',))); S.load_plugins(str(f))   # the class renamed: its own earlier run held the name
    assert E.ESTIMATORS['foo_e2b'].__qualname__ == 'Foo2'
    f = tmp_path / 'back_e2.py'   # a failed or refused re-run: all the earlier run registered comes back
    f.write_text(HEAD + est('back_e2a', aliases=('b_e2a',))); S.load_plugins(str(f))
    held, entry = E.ESTIMATORS['back_e2a'], CATALOGUE['back_e2a']
    for bad in (HEAD + est('back_e2b') + "raise RuntimeError('boom')\n", HEAD + est('back_e2b') + "DATA_REFS['digits'] = 'changed'\n"):
        f.write_text(bad); fails(lambda: S.load_plugins(str(f)))
        assert E.ESTIMATORS['back_e2a'] is held and E.ALIASES['b_e2a'] == 'back_e2a' and CATALOGUE['back_e2a'] == entry and 'back_e2b' not in E.ESTIMATORS


# --- item 5: estimator() quotes a spec as written, and shows keyword overrides as such
def test_estimator_error_quotes_the_spec_or_the_overrides():
    assert fails(lambda: S.estimator('concrete:tau=1', tau=0)).startswith("estimator 'concrete:tau=1' with tau=0: tau must be")
    msg = fails(lambda: S.estimator('st:deterministic=True', deterministic=torch.tensor(True)))
    assert msg.startswith("estimator 'st:deterministic=True' with deterministic=tensor(True): deterministic must be True or False"), msg
    assert fails(lambda: S.estimator(' concrete: tau = 1e-4 ')).startswith("estimator 'concrete: tau = 1e-4': tau must be")
    assert fails(lambda: E.estimators_from_spec('st, concrete: tau = 1e-4')).startswith("estimator 'concrete: tau = 1e-4': tau must be")


def test_commands_quote_the_spec_as_written_once(capsys):
    from sbn_estimators.gradeval import gradeval_cli
    from sbn_estimators.bench import bench_cli
    from sbn_estimators.train import TrainConfig
    assert fails(lambda: TrainConfig(estimator='concrete: tau = 1e-4')).startswith("estimator 'concrete: tau = 1e-4': tau must be")
    for cli, args in ((gradeval_cli, ['--samples', '5', '--epochs', '0', '--quiet']), (bench_cli, ['--nets', 'fc'])):
        with pytest.raises(SystemExit) as e: cli(['--estimators', 'st,concrete: tau = 1e-4', *args])
        err = capsys.readouterr().err
        assert e.value.code == 2 and "estimator 'concrete: tau = 1e-4': tau must be" in err and err.count('estimator ') == 1, err


# --- item 6: tensors refused, except 0-d tensors without grad where torch's optimizers take them
def test_check_number_refuses_tensors_unless_asked():
    from sbn_estimators.core import check_number
    msg = fails(lambda: S.estimator('concrete', tau=torch.tensor(0.5, requires_grad=True)))
    assert 'tau must be' in msg and 'requires_grad=True' in msg, msg
    assert 'tau must be' in fails(lambda: S.estimator('concrete', tau=torch.tensor(0.5)))
    assert 'Python number' in fails(lambda: check_number('x', torch.tensor(0.5)))
    assert check_number('x', torch.tensor(0.5), tensor=True) == 0.5
    assert 'requires grad' in fails(lambda: check_number('x', torch.tensor(0.5, requires_grad=True), tensor=True))


def test_optimizers_take_0d_tensors_without_grad():
    from sbn_estimators.binary_weights import MirrorDescent
    from sbn_estimators.binary_optimizers import Bop
    p = torch.nn.Parameter(torch.zeros(3))
    assert MirrorDescent([p], lr=torch.tensor(0.1)).param_groups[0]['lr'] == pytest.approx(0.1)
    Bop([{'params': [p], 'binary': True}], threshold=torch.tensor(1e-6))
    assert 'requires grad' in fails(lambda: MirrorDescent([p], lr=torch.tensor(0.1, requires_grad=True)))
    assert 'requires grad' in fails(lambda: Bop([{'params': [p], 'binary': True}], threshold=torch.tensor(1e-6, requires_grad=True)))


# --- item 7: an unknown model names --plugins, and with plugins loaded says they register no model of that name
def test_unknown_model_gives_the_plugins_hint(tmp_path, capsys):
    from sbn_estimators.models import get_model
    from sbn_estimators.train import train_cli
    assert '--plugins' in fails(lambda: get_model('nope_e2'))
    (tmp_path / 'empty.py').write_text("X = 1\n")
    with pytest.raises(SystemExit) as e: train_cli(['--plugins', str(tmp_path / 'empty.py'), '--model', 'nope_e2', '--epochs', '1'])
    err = capsys.readouterr().err
    assert e.value.code == 2 and 'register no model of that name' in err and 'register_model' in err, err


# --- item 8: positive with low=0 says > 0
def test_check_number_positive_low_zero_says_above_zero():
    from sbn_estimators.core import check_number
    assert fails(lambda: check_number('x', 0, low=0, positive=True)) == "x must be a finite number > 0, got 0"
    assert fails(lambda: check_number('x', 0, low=0, high=1, positive=True)) == "x must be a number in (0, 1], got 0"
    assert fails(lambda: check_number('x', -1, low=0)) == "x must be a finite number >= 0, got -1"
