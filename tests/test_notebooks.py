"Run every notebook in nbs/ through nbdev's test machinery: each cell is a test; #| slow and #| cuda cells are skipped unless --nb-flags names them."
from configparser import ConfigParser
import pytest
from nbdev.test import test_nb as run_notebook
from conftest import ROOT

NOTEBOOKS = sorted(p for p in (ROOT / 'nbs').glob('*.ipynb') if not p.name.startswith('_'))
cfg = ConfigParser(); cfg.read(ROOT / 'settings.ini')
SKIP_FLAGS = cfg['DEFAULT']['tst_flags'].split()


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook(nb, nb_flags):
    ok, seconds = run_notebook(nb, skip_flags=SKIP_FLAGS, force_flags=nb_flags)
    assert ok, f"{nb.name} failed (the failing cell's traceback is printed above)"
