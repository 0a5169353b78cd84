"""Run every notebook in nbs/ through nbdev's test machinery, each in a fresh interpreter (as `nbdev_test` does):
every cell is a test; `#| slow` and `#| cuda` cells are skipped unless `--nb-flags` names them. A fresh process per
notebook matters: notebooks re-define and re-register the library's estimators, which must not leak into the next."""
import json, subprocess, sys
from configparser import ConfigParser
import pytest
from conftest import ROOT

NOTEBOOKS = sorted(p for p in (ROOT / 'nbs').glob('*.ipynb') if not p.name.startswith('_'))
cfg = ConfigParser(); cfg.read(ROOT / 'settings.ini')
SKIP_FLAGS = cfg['DEFAULT']['tst_flags'].split()

RUNNER = """
import json, sys, torch
torch.set_num_threads(1)  # small tensors: on 2 shared cores threads cost more in synchronisation than they save
from pathlib import Path
from nbdev.test import test_nb
nb, skip, force = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
ok, seconds = test_nb(Path(nb), skip_flags=skip, force_flags=force)
print(f'{nb}: {seconds:.1f} s')
sys.exit(0 if ok else 1)
"""


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook(nb, nb_flags):
    r = subprocess.run([sys.executable, '-c', RUNNER, str(nb), json.dumps(SKIP_FLAGS), json.dumps(nb_flags)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, f"{nb.name} failed:\n{r.stderr[-6000:]}"


def test_cuda_cells_are_guarded():
    "`--nb-flags cuda` runs `#| cuda` cells anywhere: each runs only where CUDA is (and, for backend='compiled', where torch.compile works)."
    for nb in NOTEBOOKS:
        for c in json.loads(nb.read_text(encoding='utf-8'))['cells']:
            lines = ''.join(c['source']).splitlines()
            if c['cell_type'] != 'code' or not lines or lines[0] != '#| cuda': continue
            assert lines[1].startswith('if torch.cuda.is_available()'), f"{nb.name} cell {c['id']}: no CUDA guard"
            assert "backend='compiled'" not in ''.join(lines) or "compiler_works('cuda')" in lines[1], f"{nb.name} cell {c['id']}: no compiler guard"
