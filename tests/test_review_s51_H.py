"Review s51, helper H: plot_comparison marks where a method's runs change stage (as plot_metrics does) and labels its y axes readably."
import matplotlib; matplotlib.use('Agg')
import matplotlib.pyplot as plt
import pytest
from sbn_estimators.lr_search import plot_comparison


def _curve(stages):
    return [dict(epoch=e, stage=s, train_loss=1 / e, val_det_acc=0.4 + e / 20) for e, s in enumerate(stages, 1)]

def _vertical(ax):
    return sorted((float(l.get_xdata()[0]), l.get_color()) for l in ax.lines if len(l.get_xdata()) == 2 and l.get_xdata()[0] == l.get_xdata()[1])


def test_stage_changes_are_marked_per_method_in_every_panel():
    rows = ([dict(method='duo', seed=s, curve=_curve(['coupled'] * 3 + ['decoupled'] * 2)) for s in (0, 1)]
            + [dict(method='biper', seed=0, curve=_curve(['sine'] + ['square'] * 4))]
            + [dict(method='plain', seed=0, curve=_curve(['train'] * 5))])
    fig = plot_comparison(rows, ('train_loss', 'val_det_acc'))
    try:
        for ax in fig.axes[:2]: assert _vertical(ax) == [(1.5, 'C1'), (3.5, 'C0')]   # between epochs 3|4 (duo, C0) and 1|2 (biper, C1); none for plain
    finally: plt.close(fig)


def test_no_marker_without_stages_and_curves_cut_to_the_shortest_seed():
    rows = [dict(method='a', seed=0, curve=[dict(epoch=e, train_loss=1., val_acc=.5) for e in (1, 2, 3)])]   # no stage column: nothing to mark
    fig = plot_comparison(rows)
    try: assert _vertical(fig.axes[0]) == []
    finally: plt.close(fig)
    rows = [dict(method='a', seed=0, curve=_curve(['x', 'x', 'y'])), dict(method='a', seed=1, curve=_curve(['x', 'x']))]
    fig = plot_comparison(rows, 'train_loss')
    try: assert _vertical(fig.axes[0]) == []   # the change after epoch 2 lies past the epochs every seed has
    finally: plt.close(fig)


@pytest.mark.parametrize('column, label', [('val_det_acc', 'validation accuracy, deterministic (%)'), ('train_loss', 'training loss (surrogate)')])
def test_y_labels_are_readable_and_accuracies_in_percent(column, label):
    rows = [dict(method='a', seed=0, curve=_curve(['x'] * 3))]
    fig = plot_comparison(rows, column)
    try:
        ax = fig.axes[0]
        assert ax.get_ylabel() == label
        if column.endswith('_acc'): assert list(ax.lines[0].get_ydata()) == pytest.approx([45., 50., 55.])
    finally: plt.close(fig)


def test_the_accuracy_time_figure_reads_the_runs_the_table_printed():
    "nbs/14_train.ipynb: the figure of test accuracy against time reads nbs/data/train_comparison.json, which the slow comparison cell writes; its numbers are those the cell beside it printed."
    import json, statistics
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    cells = json.loads((root / 'nbs' / '14_train.ipynb').read_text())['cells']
    code = lambda c: ''.join(c['source'])
    fig = [c for c in cells if 'plot_accuracy_time(rows)' in code(c)]
    assert len(fig) == 1 and "data/train_comparison.json" in code(fig[0]) and 'MEASURED' not in code(fig[0])
    writer = [c for c in cells if "write_text(json.dumps(runs" in code(c)]
    assert len(writer) == 1 and code(writer[0]).startswith('#| slow') and 'data/train_comparison.json' in code(writer[0])
    runs = json.loads((root / 'nbs' / 'data' / 'train_comparison.json').read_text())
    printed = [c for c in cells if c['cell_type'] == 'code' and code(c).startswith('#| slow') and '| estimator | test acc. (expected) | s / epoch |' in code(c)]
    text = ''.join(''.join(o.get('text', '')) for o in printed[0]['outputs'])
    lines = [l.split('|') for l in text.strip().splitlines()[2:]]
    assert len(lines) == 17 == len({r['estimator'] for r in runs})
    for c in lines:
        name = c[1].strip(' `')
        rs = [r for r in runs if r['estimator'] == name]
        for col, key, scale, digits in ((c[2], 'test_acc', 100, 2), (c[3], 'seconds_per_epoch', 1, 3)):
            v = [r[key] * scale for r in rs]
            assert col.strip() == f"{statistics.mean(v):.{digits}f} ± {statistics.stdev(v):.{digits}f}", (name, key)
