"""The library's module graph has no import cycle, and the registries import only what they list.

The graph is the import-time one: a module's top-level imports (and those in its `try`/`if` blocks). Imports inside
functions are left out on purpose: they run after every module has loaded, and some go back up the graph by design
(`estimators.load_plugins` reaches the model and dataset registries to roll a failed plugin back, `catalogue.run_references`
reads the trainer's optimizers): by then both modules are whole, so such a pair cannot see a half-initialised module."""
import ast, re, subprocess, sys
from conftest import ROOT

PKG = ROOT / 'sbn_estimators'

def _package_imports(nodes) -> set:
    "The package's modules that `nodes` import, outside functions and classes (a module's top level, its `try`/`if` blocks)."
    out = set()
    for n in nodes:
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)): continue
        if isinstance(n, ast.ImportFrom):
            if n.level == 1: out |= {n.module.split('.')[0]} if n.module else {a.name for a in n.names}
            elif n.module == 'sbn_estimators': out |= {a.name for a in n.names}
            elif n.module and n.module.startswith('sbn_estimators.'): out.add(n.module.split('.')[1])
        elif isinstance(n, ast.Import): out |= {a.name.split('.')[1] for a in n.names if a.name.startswith('sbn_estimators.')}
        for block in ('body', 'orelse', 'finalbody', 'handlers'): out |= _package_imports(getattr(n, block, []))
    return out

def import_graph() -> dict:
    "{module: modules of the package it imports at its top level}, read from its syntax tree (not from code in strings; `python -m`'s self-import aside)."
    mods = {p.stem for p in PKG.glob('*.py') if not p.stem.startswith('_')}
    return {m: (_package_imports(ast.parse((PKG / f'{m}.py').read_text()).body) & mods) - {m} for m in mods}

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

def _in_module(src, module):
    "Run `src` as the code of a module named `module` (as user code or a page would be)."
    ns = {'__name__': module}
    exec(compile(src, f'<{module}>', 'exec'), ns)
    return ns

def test_registry_refuses_a_name_held_by_another_module():
    "A class or builder with the name of a built-in one but other code, in another module, is refused; the same definition again is not."
    import pytest
    from sbn_estimators.estimators import ESTIMATORS, ALIASES, estimator
    from sbn_estimators.models import MODELS, list_models
    import sbn_estimators.straight_through as stm
    estimator('st'); list_models()
    saved = dict(ESTIMATORS), dict(ALIASES), dict(MODELS)
    try:
        with pytest.raises(ValueError, match=r"estimator name 'st' is already registered by sbn_estimators\.straight_through\.ST"):
            _in_module("from sbn_estimators.estimators import *\n@register_estimator('st')\nclass ST(LocalEstimator):\n"
                       "    def forward(self, a): return a\n", '__main__')
        with pytest.raises(ValueError, match=r"model name 'sbn_mlp' is already registered by sbn_estimators\.models\.sbn_mlp"):
            _in_module("from sbn_estimators.models import register_model\n@register_model('sbn_mlp', 'sbn', (None,), 'digits', 'x')\n"
                       "def sbn_mlp(est=None, in_shape=(64,), n_out=10): return None\n", '__main__')
        assert ESTIMATORS['st'] is stm.ST and MODELS['sbn_mlp'].build.__module__ == 'sbn_estimators.models'
        # a copy with one operator changed is another definition, though its names and constants are the same
        import inspect
        src = inspect.getsource(stm.ClippedST)
        assert src.count('a.abs() <= self.threshold') == 1
        with pytest.raises(ValueError, match=r"estimator name 'clipped_st' is already registered"):
            _in_module("from sbn_estimators.estimators import *\nfrom sbn_estimators.straight_through import *\n"
                       "from sbn_estimators.core import check_number\n"
                       + src.replace('a.abs() <= self.threshold', 'a.abs() > self.threshold'), 'a_plugin')
        assert ESTIMATORS['clipped_st'] is stm.ClippedST
        # a page runs the code its module exports (same names and code, module __main__), and may run a cell again
        page = stm.__spec__.loader.get_source(stm.__name__).replace('from .', 'from sbn_estimators.')
        ns = _in_module(page, '__main__')
        assert ESTIMATORS['st'] is ns['ST']
        ns = _in_module(page, '__main__')
        assert ESTIMATORS['st'] is ns['ST']
        # a cell edited and run again (same module and name, other code) replaces its own earlier definition
        edited = "from sbn_estimators.estimators import *\n@register_estimator('mine_demo')\nclass Mine(LocalEstimator):\n    def forward(self, a): return a{}\n"
        _in_module(edited.format(''), 'user_cell'); _in_module(edited.format(' * 2'), 'user_cell')
    finally:
        for d, s in zip((ESTIMATORS, ALIASES, MODELS), saved): d.clear(); d.update(s)

def test_same_definition_whether_its_module_imported_the_name_or_not():
    """A page's cell calls `math.log` as LOAD_METHOD (math was imported in another cell), its module as LOAD_ATTR (imported in the same
    file); the longer instruction can push a jump past 255 code units so that only one of them needs EXTENDED_ARG. Still the same definition."""
    import dis, math, pytest
    from sbn_estimators.estimators import _definition
    def compiled(body, imported):
        src = "def f(x):\n    if x:\n" + body * 10 + "    return x\n"
        ns = {} if imported else {'math': math}
        exec(compile(("import math\n" if imported else "") + src, '<m>', 'exec'), ns)
        return ns['f']
    module, cell = compiled("        x = math.log(x) + 1\n", True), compiled("        x = math.log(x) + 1\n", False)
    extended = [sum(op.opname == 'EXTENDED_ARG' for op in dis.get_instructions(f)) for f in (module, cell)]
    if extended != [0, 1]: pytest.skip(f"this Python compiles both alike (EXTENDED_ARG counts {extended})")   # CPython 3.11 does not
    assert _definition(module) == _definition(cell)
    assert _definition(module) != _definition(compiled("        x = math.exp(x) + 1\n", False))   # other code is another definition

def test_get_model_says_which_input_shape_it_needs():
    import pytest
    from sbn_estimators.models import get_model
    for name in ('fmnist_bnn_conv', 'fmnist_biper_conv'):
        with pytest.raises(ValueError, match=re.escape(f"model {name!r} reads inputs of shape (any, 28, 28) ('any': of any size); give in_shape")):
            get_model(name, 'st')
    with pytest.raises(ValueError, match=re.escape("model 'sbn_mlp' reads inputs of shape (any,)")): get_model('sbn_mlp')
