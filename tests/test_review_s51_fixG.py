"Review s51 (fixG): page 10b's full-experiment figures are drawn by the current `plot_report` from reports the `#| slow` cells save in nbs/data/ (their stored figures were drawn by an old one that cut negative cosines off); the conv figures split the 17 estimators into groups."
import json, os, re
from pathlib import Path
import pytest, torch

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / 'nbs' / '10b_psa_experiment.ipynb'
CONV_SPECS = ['reinforce', 'concrete:tau=0.1', 'concrete:tau=1', 'mean_field', 'st', 'psa', 'arm', 'zgr', 'gumbel_rao', 'reinmax',
              'gst', 'decoupled_st', 'darn', 'double_cv', 'ugc', 'adf', 'local_reparam']

def _cells(): return [c for c in json.loads(PAGE.read_text(encoding='utf-8'))['cells'] if c['cell_type'] == 'code']
def _src(c): return ''.join(c['source'])
def _slow(c): return bool(re.search(r'^#\|\s*slow\b', _src(c), re.M))
def _cell(text): return next(_src(c) for c in _cells() if text in _src(c) and not _slow(c))


def test_slow_cells_save_their_reports_and_draw_nothing():
    slow = [_src(c) for c in _cells() if _slow(c)]
    assert not any('plot_report' in s for s in slow)   # a figure stored by a slow cell would keep an old plot_report's look
    assert any("save_json(f'data/psa_mlp_epoch{epoch}.json', rep)" in s for s in slow)
    assert any("save_json(f'data/psa_conv_step{step}.json', rep)" in s for s in slow)
    stored = [o for c in _cells() if _slow(c) for o in c.get('outputs', []) if 'image/png' in o.get('data', {})]
    assert not stored, 'the slow cells still hold figures drawn by an old plot_report'


@pytest.fixture
def page_figures(tmp_path, monkeypatch, capsys):
    "Run the page's two figure cells in `tmp_path` on small saved reports holding the page's estimators; their figures."
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import sbn_estimators.adf   # registers adf and local_reparam
    from sbn_estimators.sbn import SBNMLP, cos_data
    from sbn_estimators.gradeval import gradient_report, plot_report, read_report
    from sbn_estimators.cli import save_json
    X, Y = cos_data(seed=0)
    torch.manual_seed(0)
    rep = gradient_report(SBNMLP([2, 3, 3, 1]), X[:20], Y[:20], CONV_SPECS, samples=20, Ms=[1, 2, 5, 10, 20], progress=False)
    (tmp_path / 'data').mkdir()
    for name in ['psa_mlp_epoch1', 'psa_mlp_epoch100', 'psa_conv_step0']: save_json(tmp_path / 'data' / f'{name}.json', rep)
    monkeypatch.chdir(tmp_path)
    plt.close('all')
    from matplotlib.figure import Figure
    shown = []   # what the cells display, in order: a heading before each figure (s59), the figure itself
    ns = dict(Path=Path, plot_report=plot_report, read_report=read_report, plt=plt, Markdown=lambda s: ('md', s), display=shown.append)
    exec(_cell('def saved_report('), ns); exec(_cell('CONV_FAMILIES = '), ns)
    figs = [o for o in shown if isinstance(o, Figure)]
    heads = [o[1] for o in shown if isinstance(o, tuple)]
    assert [isinstance(o, tuple) for o in shown] == [True, False] * len(figs), shown   # each figure under its own heading
    assert heads[:3] == ['**Epoch 1**', '**Epoch 100**', '**Step 0, straight-through family**'], heads
    yield rep, figs, capsys.readouterr().out
    plt.close('all')


def test_figure_cells_draw_the_saved_reports(page_figures):
    rep, figs, out = page_figures
    titles = [f._suptitle.get_text() for f in figs]
    assert len(figs) == 2 + 3, titles   # two MLP checkpoints and one conv checkpoint (three groups) are saved
    assert titles[0].startswith('SBN 2-5-5-5-1 at epoch 1:') and titles[2].startswith('conv SBN after 0 steps, straight-through family')
    # the reports not saved are named, not an error
    assert 'data/psa_mlp_epoch200.json is not there' in out and 'data/psa_conv_step300.json is not there' in out
    lowest = min(v for r in rep['estimators'].values() for c in r['curves'].values() for v in (*c['cos'], *c['cos_q15']))
    assert lowest < 0
    for f in figs[:2]: assert min(ax.get_ylim()[0] for ax in f.axes) < lowest   # the negative cosines show


def test_conv_figures_split_the_estimators(page_figures):
    _, figs, _ = page_figures
    drawn = [[t.get_text() for t in f.axes[-1].get_legend().get_texts()] for f in figs[2:]]
    assert all(len(d) <= 8 for d in drawn), drawn   # not 17 curves and bands in one panel
    assert {k for d in drawn for k in d} == set(CONV_SPECS)
    assert all(d[0] == 'psa' for d in drawn)   # the reference, in the same colour in each
