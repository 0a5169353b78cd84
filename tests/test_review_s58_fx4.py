"""Review s58 (fx4): the docs show the comments of a dataclass's fields when the notebook defines the class (as
`show_doc` sees it under execnb), and the comments of `*args`/`**kwargs` parameters."""
import inspect, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
import build_docs


@pytest.fixture(scope='module')
def R():
    import nbdev.showdoc
    return build_docs.signature_renderer(nbdev.showdoc.BasicMarkdownRenderer)


def notebook_copy(cls):
    """`cls` defined again from its source in execnb's shell (the names of its module at hand, `__name__` the
    shell's), as the docs build runs a notebook's cells for `show_doc`."""
    from execnb.shell import CaptureShell
    sh = CaptureShell()
    sh.run_cell(f'import {cls.__module__} as _m\n'
                "globals().update({k: v for k, v in vars(_m).items() if not k.startswith('__')})")
    res = sh.run_cell(inspect.getsource(cls))
    nb_cls = sh.user_ns[cls.__name__]
    assert nb_cls is not cls and nb_cls.__module__ == '__main__', res
    return nb_cls


def test_dataclass_fields_defined_in_notebook(R):
    "fastcore finds no source for the notebook's copy; the build takes the comments from the package's copy."
    from fastcore.docments import docments
    from sbn_estimators.train import TrainConfig
    from sbn_estimators.data import Data
    nb_tc = notebook_copy(TrainConfig)
    assert not any(docments(nb_tc).values())   # the situation: no comment found on the notebook's class
    s = str(R(nb_tc).dm)
    assert s.startswith('class TrainConfig(') and "data:str='digits', # dataset (see `DATASETS`)" in s, s
    assert s.count(' # ') >= 20, s
    nb_data = notebook_copy(Data)
    s = str(R(nb_data).dm)
    assert s.startswith('class Data(') and ' # ' in s, s


def test_exported_copy_matches_module_and_fields():
    "The page's module picks the copy; a class whose fields differ from the package's gets none."
    from sbn_estimators.train import TrainConfig
    import dataclasses
    nb_tc = notebook_copy(TrainConfig)
    assert build_docs._exported_copy(nb_tc, 'train') is TrainConfig
    assert build_docs._exported_copy(nb_tc) is TrainConfig
    Other = dataclasses.make_dataclass('TrainConfig', [('x', int, 0)])
    assert build_docs._exported_copy(Other, 'train') is None
    Unknown = dataclasses.make_dataclass('NoSuchClassAnywhere', [('x', int, 0)])
    assert build_docs._exported_copy(Unknown) is None


def test_default_exp():
    from execnb.nbio import read_nb
    assert build_docs.default_exp(read_nb(ROOT/'nbs'/'13_data.ipynb')) == 'data'
    assert build_docs.default_exp(read_nb(ROOT/'nbs'/'index.ipynb')) is None


def test_kwargs_comments(R):
    "fastcore's docments records no comment after `**kwargs` (or `*args`); the build reads it from the source."
    from sbn_estimators.data import get_data
    from sbn_estimators.sbn_conv import cifar_sbn
    s = str(R(get_data).dm)
    assert "**kwargs, # passed to the dataset's function (e.g. root, download for cifar10)" in s, s
    s = str(R(cifar_sbn).dm)
    assert '**kwargs, # passed to `SBNConvNet` (noise, loss, dtype, device)' in s, s

    def f(a, # the a
          *args:int, # more a's
          b=1, c=2, # the b and c
          **kw # passed on
         ): pass
    def g(*args, b=1, # the b only
          **kw): # the return's, not kw's
        pass
    s = str(R(f).dm)
    assert "*args:int, # more a's" in s and '**kw, # passed on' in s and 'a, # the a' in s, s
    s = str(R(g).dm)
    assert '# the b only' in s and s.count('#') == 1, s   # given neither to *args nor to **kw
