"Registry and plugin edges: a plugin's copy of a built-in, registration before the built-ins load, parameters a spec cannot record, and bad arguments."
import json, os, subprocess, sys, textwrap
import numpy as np
import pytest
import torch
from conftest import ROOT, console_script
import sbn_estimators
from sbn_estimators.estimators import (ESTIMATORS, ALIASES, Estimator, estimator, estimator_params, estimators_from_spec,
                                       load_plugins, parse_estimator_specs, register_estimator)
from sbn_estimators.straight_through import ST, ClippedST
from sbn_estimators.catalogue import CATALOGUE, REFERENCES
from sbn_estimators.train import train_cli
from sbn_estimators.gradeval import gradeval_cli

ENV = {**os.environ, 'OMP_NUM_THREADS': '1'}
sbn_estimators.list_estimators()

@pytest.fixture
def registry():
    "Leaves the registries and the catalogue as they were."
    saved = [(r, dict(r)) for r in (ESTIMATORS, ALIASES, CATALOGUE, REFERENCES)]
    mods = set(sys.modules)
    yield
    for r, s in saved: r.clear(); r.update(s)
    for m in set(sys.modules) - mods:
        if m.startswith('sbn_plugin_'): del sys.modules[m]

def plugin(tmp_path, name, src):
    (tmp_path / name).write_text(textwrap.dedent(src))
    return str(tmp_path / name)

CLIPPED_COPY = '''
    import torch
    from sbn_estimators.estimators import register_estimator
    from sbn_estimators.core import check_number
    from sbn_estimators.straight_through import StraightThrough
    @register_estimator('clipped_st')
    class ClippedST(StraightThrough):
        "{doc}"
        {extra}
        def __init__(self, noise='logistic', deterministic=False,
                     threshold={threshold}): # the slope is 1 on [-threshold, threshold], edges included
            super().__init__(noise, deterministic)
            self.threshold = check_number('threshold', threshold, positive=True)
        def proxy(self, a): return a.clamp(-self.threshold, self.threshold)
        def slope(self, a): return torch.where(a.abs() <= self.threshold, 1., a.clamp(0., 0.))   # 0 outside, NaN kept
'''

def test_a_plugin_does_not_replace_a_builtin_with_its_copy(tmp_path, registry):
    "A copy of ClippedST with another default (or only its own module) is refused; the built-in stays, with threshold 1."
    f = plugin(tmp_path, 'clip.py', CLIPPED_COPY.format(doc=ClippedST.__doc__, extra='', threshold=0.25))
    with pytest.raises(ValueError, match=r"'clipped_st' is already registered by sbn_estimators\.straight_through\.ClippedST"): load_plugins(f)
    assert ESTIMATORS['clipped_st'] is ClippedST and estimator('clipped_st').threshold == 1.0
    r = subprocess.run([console_script('sbn-train'), '--plugins', f, '--estimator', 'clipped_st', '--smoke', '--threads', '1'],
                       capture_output=True, text=True, env=ENV, cwd=tmp_path)
    assert r.returncode == 2 and 'already registered' in r.stderr and r.stderr.count('\n') == 1, r.stdout + r.stderr

@pytest.mark.parametrize('extra,threshold', [('', 0.25), ('needs_grad = True', 1.0)])
def test_a_definition_includes_defaults_and_class_attributes(extra, threshold, registry):
    "Run as a page (module __main__), a copy whose default or class attribute differs is another definition; the same copy replaces."
    import sbn_estimators.straight_through as stm
    def page(**kw):
        ns = {'__name__': '__main__'}
        exec(compile(textwrap.dedent(CLIPPED_COPY.format(doc=ClippedST.__doc__, **kw)), '<page>', 'exec'), ns)
        return ns['ClippedST']
    with pytest.raises(ValueError, match='already registered'): page(extra=extra, threshold=threshold)
    assert ESTIMATORS['clipped_st'] is stm.ClippedST
    same = page(extra='', threshold=1.0)
    assert ESTIMATORS['clipped_st'] is same

def test_registering_before_the_builtins_load_reports_the_clash():
    "In a fresh process, `st` registered before any built-in is refused at once, and the registry keeps working."
    code = textwrap.dedent('''
        import sys, sbn_estimators
        from sbn_estimators.estimators import register_estimator, Estimator
        assert 'sbn_estimators.straight_through' not in sys.modules
        try:
            @register_estimator('st')
            class Mine(Estimator): pass
        except ValueError as e: print(e)
        else: sys.exit('registered')
        print(type(sbn_estimators.estimator('exact')).__name__, type(sbn_estimators.estimator('st')).__name__, len(sbn_estimators.list_estimators()) > 20)
        ''')
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT, env=ENV)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "'st' is already registered by sbn_estimators.straight_through.ST" in r.stdout and 'Exact ST True' in r.stdout, r.stdout

PRIV = '''
    import math, torch
    from sbn_estimators.estimators import register_estimator
    from sbn_estimators.straight_through import StraightThrough
    @register_estimator('priv_st')
    class PrivST(StraightThrough):
        def __init__(self, noise='logistic', deterministic=False, sigma=1.6):
            super().__init__(noise, deterministic)
            self._sigma = float(sigma)
        def proxy(self, a): return torch.erf(a / (self._sigma * math.sqrt(2)))
        def slope(self, a): return torch.exp(-0.5 * (a / self._sigma) ** 2) * (2 / (self._sigma * math.sqrt(2 * math.pi)))
'''

def test_a_parameter_not_kept_under_its_name(tmp_path, registry, capsys):
    f = plugin(tmp_path, 'priv.py', PRIV)
    load_plugins(f)
    msg = "PrivST.__init__ takes 'sigma' but keeps no attribute 'sigma'"
    with pytest.raises(ValueError, match=msg): estimator('priv_st:sigma=1.8')
    e = ESTIMATORS['priv_st']()
    with pytest.raises(ValueError, match=msg): e.spec
    with pytest.raises(ValueError, match=msg): e.hparams()
    assert 'sigma=?' in repr(e)
    with pytest.raises(SystemExit) as x:
        gradeval_cli(['--plugins', f, '--estimators', 'exact,priv_st:sigma=1.8', '--samples', '5', '--epochs', '0', '--no-progress'])
    err = capsys.readouterr().err
    assert x.value.code == 2 and msg in err and err.count('\n') == 1, err

def test_a_parameter_without_a_default_is_refused(tmp_path, registry, capsys):
    f = plugin(tmp_path, 'nodef.py', '''
        from sbn_estimators.estimators import register_estimator
        from sbn_estimators.straight_through import ST
        @register_estimator('nodef_st')
        class NoDefST(ST):
            def __init__(self, width, noise='logistic', deterministic=False):
                super().__init__(noise, deterministic); self.width = width
        ''')
    with pytest.raises(SystemExit) as x: train_cli(['--plugins', f, '--estimator', 'nodef_st', '--smoke'])
    err = capsys.readouterr().err
    assert x.value.code == 2 and "every parameter of NoDefST.__init__ needs a default" in err and "'width' has none" in err, err
    assert 'nodef_st' not in ESTIMATORS

def test_estimator_params_of_a_spec():
    with pytest.raises(ValueError, match=r"estimator_params takes a registry name, got the spec 'reste:o=3'; give the name alone \('reste'\)"):
        estimator_params('reste:o=3')
    assert estimator_params(' reste ')['o'] == estimator_params('reste')['o']

def test_a_path_without_py_is_not_a_module(tmp_path, monkeypatch):
    (tmp_path / 'my.dir').mkdir()
    (tmp_path / 'my.dir' / 'kb.py').write_text('')
    (tmp_path / 'kb.py').write_text('')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"plugin '\./kb' is not a module name \(it is a path\) nor a \.py file; give the file '\./kb\.py'"):
        load_plugins('./kb')
    with pytest.raises(ValueError, match=r"give the file 'my\.dir/kb\.py'"): load_plugins('my.dir/kb')
    with pytest.raises(ValueError, match=r"plugin 'nothere/kb' is not a module name.*give a \.py file"): load_plugins('nothere/kb')

def test_ctrl_c_during_a_plugin_import_leaves_nothing_behind(tmp_path, registry):
    f = plugin(tmp_path, 'kb.py', '''
        import os
        from sbn_estimators.estimators import register_estimator
        from sbn_estimators.straight_through import ST
        @register_estimator('kb_st')
        class KbST(ST): pass
        if not os.path.exists(os.path.join(os.path.dirname(__file__), 'ok')): raise KeyboardInterrupt
        ''')
    with pytest.raises(KeyboardInterrupt): load_plugins(f)
    assert 'kb_st' not in ESTIMATORS and not any(m.startswith('sbn_plugin_kb_') for m in sys.modules)
    (tmp_path / 'ok').touch()
    load_plugins(f)   # the retry imports it
    assert 'kb_st' in ESTIMATORS

def test_a_plugin_does_not_change_the_catalogue(tmp_path, registry):
    st_entry, ref = dict(CATALOGUE['st']), REFERENCES['williams1992']
    f = plugin(tmp_path, 'cat_then_fail.py', '''
        from sbn_estimators.catalogue import CATALOGUE
        CATALOGUE['half2'] = dict(forward='x', backward='y', cost='1', unbiased=False, refs=())
        CATALOGUE['st'] = dict(CATALOGUE['st'], cost='hacked', unbiased=True)
        raise RuntimeError('oops')
        ''')
    with pytest.raises(ValueError, match='RuntimeError: oops'): load_plugins(f)
    assert CATALOGUE['st'] == st_entry and 'half2' not in CATALOGUE
    for edit in ("CATALOGUE['st']['unbiased'] = True", "del CATALOGUE['st']", "REFERENCES['williams1992'] = ('x',) * 5"):
        g = plugin(tmp_path, 'edits.py', f'''
            from sbn_estimators.estimators import register_estimator
            from sbn_estimators.straight_through import ST
            from sbn_estimators.catalogue import CATALOGUE, REFERENCES
            @register_estimator('edits_st')
            class EditsST(ST): pass
            CATALOGUE['edits_st'] = dict(CATALOGUE['st'])
            {edit}
            ''')
        with pytest.raises(ValueError, match=r"plugin '.*edits\.py' changed (CATALOGUE\['st'\]|REFERENCES\['williams1992'\]); a plugin adds entries"):
            load_plugins(g)
        assert CATALOGUE['st'] == st_entry and REFERENCES['williams1992'] == ref
        assert 'edits_st' not in CATALOGUE and 'edits_st' not in ESTIMATORS and not any(m.startswith('sbn_plugin_edits_') for m in sys.modules)
    g = plugin(tmp_path, 'edits.py', '''
        from sbn_estimators.estimators import register_estimator
        from sbn_estimators.straight_through import ST
        from sbn_estimators.catalogue import CATALOGUE
        @register_estimator('edits_st')
        class EditsST(ST): pass
        CATALOGUE['edits_st'] = dict(CATALOGUE['st'])
        ''')
    load_plugins(g)   # adding its own entry is what a plugin does
    assert 'edits_st' in CATALOGUE and 'edits_st' in ESTIMATORS

def test_register_estimator_arguments(registry):
    cls = lambda: type('Mine', (Estimator,), {})
    with pytest.raises(ValueError, match=r"aliases: a tuple or list of names, got 'xy'; for one alias write aliases=\('xy',\)"):
        register_estimator('mine_a', aliases='xy')
    with pytest.raises(ValueError, match=r"aliases: 'mine_b' given twice"): register_estimator('mine_b', aliases=('mine_b',))
    with pytest.raises(ValueError, match=r"aliases: 'b2' given twice"): register_estimator('mine_b', aliases=('b2', 'b2'))
    with pytest.raises(ValueError, match=r"name: an estimator's name is a lowercase identifier \(a string\), got 3"): register_estimator(3)
    with pytest.raises(ValueError, match=r"register_estimator\('fn'\) decorates a subclass of Estimator, got <function"):
        register_estimator('fn')(lambda: 1)
    with pytest.raises(ValueError, match="decorates a subclass of Estimator"): register_estimator('fn')(int)
    c = register_estimator('mine_c1')(cls())
    with pytest.raises(ValueError, match=r"estimator 'mine_c2': Mine is already registered as 'mine_c1'"): register_estimator('mine_c2')(c)
    assert estimator('mine_c1').spec == 'mine_c1' and 'mine_c2' not in ESTIMATORS
    assert register_estimator('mine_c1', aliases=['mine_c1_alias'])(c) is c and estimator('mine_c1_alias').spec == 'mine_c1'

def test_estimator_reads_a_list_spec_as_the_commands_do(capsys):
    assert estimator('st,').spec == 'st' and estimator('reinforce,n=4').n == 4
    with pytest.raises(ValueError, match=r"one estimator expected, but 'st,reinforce' names more than one \(st, reinforce\)"):
        estimator('st,reinforce')
    with pytest.raises(SystemExit) as x: train_cli(['--estimator', 'st,reinforce', '--smoke'])
    err = capsys.readouterr().err
    assert x.value.code == 2 and 'names more than one' in err and 'unknown estimator' not in err, err

def test_spec_must_be_a_string():
    for bad in (['st'], 3, None):
        with pytest.raises(ValueError, match=r"spec: a string of comma-separated estimators such as 'st,reste:o=3', got "):
            parse_estimator_specs(bad)
        with pytest.raises(ValueError, match=r"spec: a string of comma-separated estimators"): estimators_from_spec(bad)

def test_gauss_st_example_takes_numpy_numbers_and_bounds_sigma(registry):
    load_plugins(str(ROOT / 'nbs' / 'examples' / 'gauss_st.py'))
    assert estimator('gauss_st', sigma=np.float32(1.5)).sigma == 1.5 and estimator('gauss_st', sigma=np.int64(2)).sigma == 2.0
    for bad in (1e-40, 0, -1, 1e7, float('nan'), True, '1'):
        with pytest.raises(ValueError, match=r"sigma must be a number in \[1e-06, 1e\+06\], got "): estimator('gauss_st', sigma=bad)
    a = torch.linspace(-3, 3, 7)
    for s in (1e-6, 1e6): assert torch.isfinite(estimator('gauss_st', sigma=s).slope(a)).all()
