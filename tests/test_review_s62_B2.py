"Review s62, fix B (run_comparison): a full run that diverges at a rate its search trials survived is recorded as diverged, and the comparison goes on (it stopped every method after it, and a re-run resumed into the same divergence); the table counts diverged seeds and the plot leaves them out."
import matplotlib; matplotlib.use('Agg')
import pytest
from sbn_estimators.train import TrainConfig
from sbn_estimators.lr_search import run_comparison, comparison_table, plot_comparison

BASE = TrainConfig(data='digits', model='sbn_mlp:width=16', epochs=4, n_train=256, val=64, n_test=64, optimizer='sgd', warmup_epochs=3, schedule='constant')


def _never(*a, **k): raise AssertionError("a recorded run was trained again")


def test_a_diverged_run_is_recorded_and_the_comparison_goes_on(tmp_path):
    methods, grids = {'big': {'estimator': 'st'}, 'small': {'estimator': 'zgr'}}, {'big': (3e36,), 'small': (0.1,)}
    lines = []
    rows = run_comparison(BASE, methods, tmp_path / 'cmp', seeds=(0,), grids=grids, log=lines.append)
    big, small = rows
    assert big['diverged'].startswith('training diverged at epoch') and big['test_acc'] is None, big
    assert 0 <= small['test_acc'] <= 1 and not small.get('diverged')
    assert len(big['curve']) == int(big['diverged'].split('epoch ')[1].split(',')[0]) - 1   # the epochs before it
    assert any(l.startswith('big seed 0: lr 3e+36, diverged: training diverged') for l in lines), lines
    table = comparison_table(rows)
    assert '| big | 3e+36 | 1 (1 diverged) | diverged | diverged | diverged | – |' in table, table
    assert [t.get_text() for t in plot_comparison(rows).legends[0].get_texts()] == ['small']   # the diverged run left out
    again = run_comparison(BASE, methods, tmp_path / 'cmp', seeds=(0,), grids=grids, train_fn=_never, log=None)   # read back, not trained
    assert [r.get('diverged') for r in again] == [big['diverged'], None]
    with pytest.raises(ValueError, match='every run of rows diverged'): plot_comparison([big])
