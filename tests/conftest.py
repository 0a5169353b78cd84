import os, shutil, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / 'shared' / 'data'


def pytest_addoption(parser):
    parser.addoption('--nb-flags', default='', help="notebook test flags to run that are skipped by default, e.g. 'slow cuda'")


@pytest.fixture
def nb_flags(request):
    return request.config.getoption('--nb-flags').split()


def console_script(name):
    "Path of an installed console script of this package (next to the running interpreter first)."
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else shutil.which(name)
