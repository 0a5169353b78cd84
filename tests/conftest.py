import json, os, shutil, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / 'shared' / 'data'


def pytest_addoption(parser):
    parser.addoption('--nb-flags', default='', help="notebook test flags to run that are skipped by default, e.g. 'slow cuda'")


@pytest.fixture
def nb_flags(request):
    return request.config.getoption('--nb-flags').split()


@pytest.fixture
def registries():
    "The registries and the catalogue's books as the test found them, after it (a plugin's names are not left for other tests, e.g. the catalogue's)."
    from sbn_estimators import estimators as E
    from sbn_estimators.models import MODELS, MODEL_TRANSFORMS
    from sbn_estimators.catalogue import CATALOGUE, REFERENCES, DATA_REFS, MODEL_REFS
    from sbn_estimators.data import DATASETS
    E.list_estimators()
    books = (E.ESTIMATORS, E.ALIASES, MODELS, MODEL_TRANSFORMS, CATALOGUE, REFERENCES, DATASETS, DATA_REFS, MODEL_REFS)
    saved = [dict(b) for b in books]
    yield
    for b, s in zip(books, saved): b.clear(); b.update(s)


@pytest.fixture
def call(tmp_path, monkeypatch, capsys):
    """`gradeval_cli` in this process (no interpreter start-up), in `tmp_path`: `call(args)` -> CompletedProcess(args, status, stdout, stderr).
    For the sbn-gradeval tests; a test file that defines a `call` fixture of its own (another command's) overrides this one."""
    import subprocess
    from sbn_estimators.gradeval import gradeval_cli
    monkeypatch.chdir(tmp_path)
    def _call(args):
        try: gradeval_cli([*args, '--no-progress']); code = 0
        except SystemExit as e: code = e.code
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)
    return _call


def plain(obj) -> bool:
    "Whether `obj` holds Python numbers only (for tests/test_numpy_*.py): json.dumps refuses numpy numbers but np.float64, a float subclass, which its repr shows."
    json.dumps(obj)
    return 'np.' not in repr(obj)


def console_script(name):
    "Path of an installed console script of this package (next to the running interpreter first)."
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else shutil.which(name)



def sbn_train(capsys, *args):
    "(exit status, stdout, stderr) of `sbn-train args` run in this process."
    from sbn_estimators.train import train_cli
    try: train_cli(list(args)); code = 0
    except SystemExit as e: code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err

# a plugin estimator that stops a run as Ctrl-C does while SBN_TEST_STOP is set (the interrupt tests of the CLIs)
STOPPER = '''
import os
from sbn_estimators.estimators import register_estimator
from sbn_estimators.straight_through import ST
@register_estimator('stop_st')
class StopST(ST):
    "ST that stops the run as Ctrl-C does (KeyboardInterrupt) while SBN_TEST_STOP is set."
    def forward(self, a):
        if os.environ.get('SBN_TEST_STOP'): raise KeyboardInterrupt
        return super().forward(a)
'''


def pytest_configure(config):
    # The tests' tensors are small: on 2 shared cores, intra-op threads cost more in synchronisation than they save
    # (training the toy network took 53 s with 2 threads and 3.6 s with 1 on a loaded machine).
    import torch
    torch.set_num_threads(1)
