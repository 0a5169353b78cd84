"""s58 fix fx6: `derivation_page`, `derivation_label` and `estimator_card` for an estimator registered in the running session
(`python -c`, a REPL or notebook cell: `__main__` without a file; a module made with `exec`): no page, no file, no crash."""
import os, subprocess, sys, types
from pathlib import Path
import pytest
import sbn_estimators
from sbn_estimators.estimators import ESTIMATORS, ALIASES, register_estimator
from sbn_estimators.catalogue import CATALOGUE, check_catalogue, derivation_label, derivation_page, estimator_card

PKG_ROOT = str(Path(sbn_estimators.__file__).resolve().parent.parent)   # the checkout under test, for the subprocess

def test_a_class_registered_by_python_c_has_a_card():
    "Before: OSError('source code not available') from inspect.getsourcefile for a class in `__main__` with no file."
    code = ("from sbn_estimators.estimators import register_estimator\n"
            "from sbn_estimators.straight_through import ST\n"
            "from sbn_estimators.catalogue import estimator_card, derivation_page, derivation_label, CATALOGUE, check_catalogue\n"
            "@register_estimator('mine')\n"
            "class Mine(ST): 'mine'\n"
            "CATALOGUE['mine'] = dict(forward='x', backward='1', cost='1', unbiased=False, refs=[])\n"
            "check_catalogue(); card = estimator_card('mine')\n"
            "print(repr(derivation_page('mine'))); print(derivation_label('mine'))\n"
            "print(next(l for l in card.splitlines() if l.startswith('| derivation |')))\n")
    env = {'PYTHONPATH': PKG_ROOT, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1', 'PATH': os.environ.get('PATH', '/usr/bin:/bin')}
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.splitlines() == ["''", 'Mine (defined in this session)', '| derivation | Mine (defined in this session) |'], r.stdout

@pytest.fixture
def exec_module():
    "A module made with `exec` (no `__file__`), registering `ExecDemo` as 'exec_demo' with a catalogue entry; both removed after."
    mod = types.ModuleType('fx6_exec_mod')
    sys.modules[mod.__name__] = mod
    try:
        exec("from sbn_estimators.estimators import register_estimator\n"
             "from sbn_estimators.straight_through import ST\n"
             "@register_estimator('exec_demo')\n"
             "class ExecDemo(ST): 'An ST registered by a module made with exec.'\n", mod.__dict__)
        CATALOGUE['exec_demo'] = dict(forward='x', backward='1', cost='1', unbiased=False, refs=[])
        yield 'exec_demo'
    finally:
        ESTIMATORS.pop('exec_demo', None); CATALOGUE.pop('exec_demo', None)
        for a in [a for a, n in ALIASES.items() if n == 'exec_demo']: del ALIASES[a]
        del sys.modules[mod.__name__]

def test_a_class_from_an_exec_made_module_has_a_card(exec_module):
    "Before: TypeError('... is a built-in class') from inspect.getsourcefile."
    check_catalogue()
    assert derivation_page(exec_module) == ''
    assert derivation_label(exec_module) == 'ExecDemo (defined in this session)'
    card = estimator_card(exec_module)
    assert '| derivation | ExecDemo (defined in this session) |' in card.splitlines(), card

def test_getsourcefile_none_is_no_page(exec_module, monkeypatch):
    "inspect.getsourcefile may answer None (a file that no longer exists): no page either, not Path(None)."
    import inspect
    monkeypatch.setattr(inspect, 'getsourcefile', lambda obj: None)
    assert derivation_page(exec_module) == ''
    assert derivation_label(exec_module) == 'ExecDemo (defined in this session)'

def test_the_registry_is_left_as_found():
    assert 'exec_demo' not in ESTIMATORS and 'exec_demo' not in CATALOGUE and 'fx6_exec_mod' not in sys.modules
