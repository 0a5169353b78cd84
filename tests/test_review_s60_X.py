"Review s60, fix X: sbn-bench shows the warnings of its cases' processes (each once) and does not repeat, nor fail under an error filter on, the two warnings it printed itself; run_cases' and import_binary's warnings point at their caller; a case whose rows could not be written to stdout is not counted as lost."
import json, os, subprocess, sys, warnings
from pathlib import Path
import pytest
import torch, torch.nn as nn
from sbn_estimators import bench, layers
from sbn_estimators.bench import run_cases
from sbn_estimators.binary_weights import BinaryWeightLinear

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
CASE = ['--nets', 'fc', '--batch', '2', '--threads', '1']

# a plugin whose estimator warns in every step (what a case's process warns, as psa's 'torch.compile does not work on cpu')
# and whose import warns once (what sbn-bench shows itself when it loads the plugin)
PLUGIN = '''
import warnings
from sbn_estimators.estimators import register_estimator, ESTIMATORS
warnings.warn("s60x plugin: imported")
@register_estimator('s60x_warns')
class Warns(ESTIMATORS['st']):
    def surrogate(self, net, x, y, params=None):
        warnings.warn("s60x plugin: a step warned")
        return super().surrogate(net, x, y, params)
'''


def _bench(*args, env=None, stdout=subprocess.PIPE):
    env = {**{k: v for k, v in os.environ.items() if k != 'PYTHONWARNINGS'}, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1', **(env or {})}
    return subprocess.run([sys.executable, '-m', 'sbn_estimators.bench', *args], stdout=stdout, stderr=subprocess.PIPE, text=True, env=env, timeout=300)


def test_the_warnings_of_a_cases_process_are_shown_once(tmp_path):
    "A warning of the case's process reaches sbn-bench's stderr once (it warned in every step); the plugin's import warning, which sbn-bench showed when it loaded the plugin, is not shown again."
    (tmp_path / 'warns.py').write_text(PLUGIN)
    p = _bench(*CASE, '--estimators', 'st,s60x_warns', '--repeats', '3', '--plugins', str(tmp_path / 'warns.py'))
    assert p.returncode == 0, p.stderr
    assert p.stderr.count("UserWarning: s60x plugin: a step warned") == 1, p.stderr
    assert p.stderr.count("UserWarning: s60x plugin: imported") == 1, p.stderr
    assert 's60x_warns' in p.stdout


def test_the_same_warning_of_two_cases_is_shown_once(monkeypatch):
    "Two cases' processes give the same warning (psa's on each network, each a fresh process): it is shown once, as in one process, with its category (torch's or a plugin's own class: a UserWarning)."
    said = [('RuntimeWarning', 's60x: twice', '/x/psa.py', 7), ('TracerWarning', 's60x: a class of torch', '/x/psa.py', 9)]
    out = json.dumps(dict(rows=[dict(estimator='st')], warnings=said))
    monkeypatch.setattr(bench.subprocess, 'run', lambda cmd, **kw: subprocess.CompletedProcess(cmd, 0, out, ''))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('default')
        for _ in range(2): assert bench._child_cases(dict(net='fc', device='cpu')) == [dict(estimator='st')]
    assert [(w.category, str(w.message), w.filename, w.lineno) for w in caught] == [
        (RuntimeWarning, 's60x: twice', '/x/psa.py', 7), (UserWarning, 's60x: a class of torch', '/x/psa.py', 9)]


@pytest.mark.skipif(not os.path.exists('/dev/full'), reason="needs /dev/full")
def test_the_commands_own_warnings_neither_repeated_nor_failing_under_an_error_filter():
    "Under PYTHONWARNINGS=error::UserWarning the case runs as without it: its process does not raise the two warnings sbn-bench printed as its own lines, and each is shown once. With --json - to a full device the case was measured: the last line says its rows could not be written, not that no case finished."
    with open('/dev/full', 'w') as full:
        p = _bench(*CASE, '--estimators', 'float,reste', '--repeats', '2', '--json', '-', env={'PYTHONWARNINGS': 'error::UserWarning'}, stdout=full)
    assert p.returncode == 1 and p.stderr.endswith("sbn-bench: 1 of 1 cases finished (fc on cpu); writing their rows to stdout failed\n"
                                                   "sbn-bench: error: [Errno 28] No space left on device\n"), p.stderr
    assert p.stderr.count('sbn-bench: warning: --repeats 2:') == 1 and p.stderr.count("sbn-bench: warning: no st in --estimators") == 1, p.stderr
    assert 'repeats=2:' not in p.stderr and 'no st among' not in p.stderr, p.stderr


def test_run_cases_warnings_point_at_the_caller():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        run_cases('fc', ['float'], batch=2, repeats=1, threads=1)
    mine = [w for w in caught if str(w.message).startswith(('repeats=1:', 'no st among'))]
    assert len(mine) == 2 and all(w.filename == __file__ for w in mine), [(str(w.message), w.filename) for w in caught]


def test_import_binary_warning_points_at_the_caller(monkeypatch):
    "The rounding warning of import_binary names the line that called it, not torch.no_grad's wrapper nor layers.py."
    net = nn.Sequential(BinaryWeightLinear(8, 4, scale='tensor', bias=False))
    ex = layers.export_binary(net)
    monkeypatch.setattr(layers, '_latent_with_scale', lambda w, alpha, scale: (w, False))   # as if no latents gave back alpha exactly
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        layers.import_binary(net, ex)
    w, = [w for w in caught if 'no latents found' in str(w.message)]
    assert w.category is RuntimeWarning and w.filename == __file__, (w.filename, w.lineno)
