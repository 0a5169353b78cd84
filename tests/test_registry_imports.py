"The library's module graph has no import cycle, and the registries import only what they list."
import re, subprocess, sys
from conftest import ROOT

PKG = ROOT / 'sbn_estimators'

def import_graph() -> dict:
    "{module: modules of the package it imports at its top level} from the `from .x import` / `from sbn_estimators.x import` lines."
    pat = re.compile(r'^(?:from\s+(?:\.|sbn_estimators\.)(\w+)\s+import|import\s+sbn_estimators\.(\w+))', re.M)
    mods = {p.stem for p in PKG.glob('*.py') if not p.stem.startswith('_')}
    return {m: {a or b for a, b in pat.findall((PKG / f'{m}.py').read_text())} & mods for m in mods}

def find_cycle(graph):
    "A cycle of `graph` as a list of modules, or None."
    state, stack = {}, []
    def visit(m):
        state[m] = 'open'; stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 'open': return stack[stack.index(n):] + [n]
            if n not in state and (c := visit(n)): return c
        state[m] = 'done'; stack.pop()
    for m in sorted(graph):
        if m not in state and (c := visit(m)): return c

def test_no_import_cycle():
    g = import_graph()
    assert {'train', 'binaryduo', 'models', 'mismatch'} <= set(g)
    assert find_cycle(g) is None, ' -> '.join(find_cycle(g))
    assert 'binaryduo' not in g['train'] and 'train' not in g['binaryduo']

def test_cycle_finder_finds_a_cycle():
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
    assert find_cycle({'a': {'b'}, 'b': set()}) is None

def test_registries_import_nothing_platform_specific():
    "`import sbn_estimators` and the estimator and model registries never reach `bench` (Unix-only `resource`)."
    code = ("import sys, sbn_estimators\nassert 'sbn_estimators.estimators' in sys.modules\n"
            "sbn_estimators.estimator('st'); from sbn_estimators.models import list_models; list_models()\n"
            "print(sorted(m for m in sys.modules if m.startswith('sbn_estimators') or m == 'resource'))")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert 'sbn_estimators.bench' not in out.stdout and "'resource'" not in out.stdout, out.stdout

def test_registry_rejects_duplicates_and_takes_specs():
    import pytest
    from sbn_estimators.estimators import estimator, register_estimator, Estimator
    from sbn_estimators.models import register_model
    with pytest.raises(ValueError, match='already registered'): register_estimator('st')(type('Other', (Estimator,), {}))
    with pytest.raises(ValueError, match='already registered'): register_estimator('mine', aliases=('dst',))(type('Mine', (Estimator,), {}))
    with pytest.raises(ValueError, match='already registered'): register_model('sbn_mlp', 'sbn', (None,), 'digits', 'x')(lambda est, in_shape, n_out: None)
    e = estimator('reste:o=3,t=1')
    assert (e.name, e.o, e.t) == ('reste', 3.0, 1.0) and estimator('reste:o=3', t=2).t == 2.0
