"`run_comparison` with the real trainer: a seed run stopped part-way continues from its checkpoint, and its row is an uninterrupted run's."
import dataclasses, json, math
import pytest, torch
from sbn_estimators.train import Diverged, TrainConfig, train
from sbn_estimators.lr_search import run_comparison, search_lr

torch.set_num_threads(1)

def test_stopped_run_continues_to_the_same_row(tmp_path):
    base = TrainConfig(data='digits', model='sbn_mlp:width=16', epochs=3, device='cpu', n_train=300, n_test=100, eval_samples=2)
    methods, grid = {'st': dict(estimator='st')}, (1e-3,)
    full = run_comparison(base, methods, tmp_path / 'full', seeds=(0,), grid=grid, log=None)[0]

    def stop_in_epoch_two(cfg, out=None, callbacks=(), progress=False, **kw):   # Ctrl-C after the first epoch's checkpoint
        def cb(epoch, row):
            if epoch == 2: raise KeyboardInterrupt
        return train(cfg, out, callbacks=[*callbacks, cb], progress=progress, **kw)
    with pytest.raises(KeyboardInterrupt):
        run_comparison(base, methods, tmp_path / 'cut', seeds=(0,), grid=grid, train_fn=stop_in_epoch_two, log=None)
    run = tmp_path / 'cut' / 'st' / 'seed0'
    assert (run / 'last.pt').is_file() and not (run / 'summary.json').exists()

    cut = run_comparison(base, methods, tmp_path / 'cut', seeds=(0,), grid=grid, log=None)[0]
    for k in ('test_loss', 'test_acc', 'test_ens_acc', 'test_det_acc'): assert cut[k] == full[k], k
    timeless = lambda curve: json.dumps([{k: v for k, v in r.items() if k != 'seconds'} for r in curve])   # NaN-safe equality
    assert len(cut['curve']) == 3 and timeless(cut['curve']) == timeless(full['curve'])


def test_a_tie_keeps_the_first_rate_of_the_grid():
    "Two rates with the same validation score: the search keeps the one that comes first in the grid (the smaller)."
    from sbn_estimators.train import TrainConfig
    from sbn_estimators.lr_search import search_lr
    scores = {1e-3: 0.5, 3e-3: 0.9, 1e-2: 0.9}
    def stub(cfg, out=None, callbacks=(), progress=False):
        for cb in callbacks: cb(1, dict(epoch=1, val_acc=scores[cfg.lr], val_loss=0.))
    assert search_lr(TrainConfig(model='sbn_mlp:width=16'), (1e-3, 3e-3, 1e-2), train_fn=stub)['lr'] == 3e-3

TINY = TrainConfig(data='digits', model='sbn_mlp:width=16', estimator='st', optimizer='adam', batch_size=64, device='cpu', seed=0,
                   n_train=300, n_test=50, eval_samples=2)

def no_training(*a, **k): raise AssertionError('trained before the arguments were checked')

def logged(log, stop=None):
    "The trainer, recording each rate it trains; raises KeyboardInterrupt at rate `stop` (as Ctrl-C would)."
    def train_fn(cfg, **kw):
        log.append(cfg.lr)
        if cfg.lr == stop: raise KeyboardInterrupt
        return train(cfg, **kw)
    return train_fn


def test_val_loss_is_minimised():
    "Scored by the validation loss, the search takes the lowest loss; the rate that blows the loss up is the one maximising would take."
    rec = search_lr(TINY, (1e-4, 1e-2, 10.), metric='val_loss')
    losses = {t['lr']: t['val_loss'] for t in rec['trials']}
    assert rec['lr'] == min(losses, key=losses.get) == 1e-2
    assert max(losses, key=losses.get) == 10.   # maximising the loss would choose another rate: the check can fail


@pytest.mark.parametrize('metric', ['val_f1', 'train_acc', 'train_loss', 'lr', 'seconds', 'epoch', 'stage'])
def test_other_metrics_are_refused_before_any_trial(metric):
    with pytest.raises(ValueError) as e: search_lr(TINY, (1e-3, 1e-2), metric=metric, train_fn=no_training)
    assert str(e.value) == ("metric must be a validation metric: val_acc, val_ens_acc, val_det_acc (maximised) or val_loss, val_det_loss (minimised), "
                            f"or None (the accuracy best.pt is chosen on), got {metric!r}")


def test_accuracies_are_maximised():
    "The accuracies keep their direction: the highest one wins."
    def stub(cfg, out=None, callbacks=(), progress=False):
        acc = {1e-3: 0.2, 1e-2: 0.7, 1e-1: 0.4}[cfg.lr]
        for cb in callbacks: cb(1, dict(epoch=1, val_loss=acc, val_acc=acc, val_ens_acc=acc, val_det_acc=acc))
    for m in ('val_acc', 'val_ens_acc', 'val_det_acc'): assert search_lr(TINY, (1e-3, 1e-2, 1e-1), metric=m, train_fn=stub)['lr'] == 1e-2
    assert search_lr(TINY, (1e-3, 1e-2, 1e-1), metric='val_loss', train_fn=stub)['lr'] == 1e-3


def test_stages_that_all_set_their_lr_are_refused(tmp_path):
    staged = TrainConfig(data='digits', model='sbn_mlp:width=16', stages=[{'name': 'coupled', 'lr': 0.01}, {'name': 'tuned', 'lr': 0.001}])
    for grid in ((1e-3, 1e-2), (1e-3,)):   # a single rate too: the full run would not use it either
        with pytest.raises(ValueError, match=r"cfg\.stages set their own lr in every stage \(coupled 0\.01, tuned 0\.001\)"):
            search_lr(staged, grid, out=tmp_path, train_fn=no_training)
    assert not (tmp_path / 'lr_search.json').exists()


def test_a_stage_without_its_own_lr_takes_the_searched_rate():
    seen = []
    def stub(cfg, out=None, callbacks=(), progress=False):
        seen.append([st['lr'] for st in cfg.plan()])
        for cb in callbacks: cb(1, dict(epoch=1, val_loss=1., val_acc=cfg.lr))
    staged = TrainConfig(data='digits', model='sbn_mlp:width=16', stages=[{'name': 'coupled'}, {'name': 'tuned', 'lr': 0.001}])
    assert search_lr(staged, (1e-2, 3e-2), train_fn=stub)['lr'] == 3e-2
    assert seen == [[1e-2, 0.001], [3e-2, 0.001]]


REIN = TrainConfig(data='digits', model='sbn_mlp:width=16', estimator='reinforce', optimizer='sgd', device='cpu', seed=0,
                   n_train=200, n_test=50, eval_samples=2)

def test_a_diverged_trial_is_recorded_skipped_and_not_trained_again(tmp_path):
    with pytest.raises(Diverged): train(dataclasses.replace(REIN, lr=3e38, epochs=1), progress=False)   # the rate alone diverges
    grid, first, again = (1e-2, 3e38, 1e-3), [], []
    with pytest.raises(KeyboardInterrupt):   # stopped in the trial after the diverged one
        search_lr(REIN, grid, out=tmp_path, train_fn=logged(first, stop=1e-3))
    saved = json.loads((tmp_path / 'lr_search.json').read_text(), parse_constant=lambda c: pytest.fail(f'not strict JSON: {c}'))
    assert first == list(grid) and 'lr' not in saved and [t['lr'] for t in saved['trials']] == [1e-2, 3e38]
    bad = saved['trials'][1]
    assert bad['score'] is None and bad['diverged'].startswith('training diverged at epoch 1')
    rec = search_lr(REIN, grid, out=tmp_path, train_fn=logged(again))
    assert again == [1e-3]                                  # the diverged rate is read back, not trained again
    assert rec['lr'] in (1e-2, 1e-3) and len(rec['trials']) == 3
    assert search_lr(REIN, grid, out=tmp_path, train_fn=no_training) == rec   # the finished record is reused as is


def test_every_trial_diverged_raises_and_a_rerun_does_not_train(tmp_path):
    with pytest.raises(Diverged, match=r"every trial diverged .* for the rates \[1e\+38, 3e\+38\]; try smaller rates"):
        search_lr(REIN, (1e38, 3e38), out=tmp_path)
    assert all('diverged' in t for t in json.loads((tmp_path / 'lr_search.json').read_text())['trials'])
    with pytest.raises(Diverged, match='every trial diverged'): search_lr(REIN, (1e38, 3e38), out=tmp_path, train_fn=no_training)


def test_a_file_with_a_nan_score_is_still_read(tmp_path):
    "lr_search.json written before scores were null holds NaN for a diverged trial: it is skipped, not chosen."
    key = search_lr(REIN, (1e-2,), train_fn=no_training)   # one rate: the key fields, no trial
    rec = {k: v for k, v in key.items() if k not in ('trials', 'lr')} | {'grid': [3e38, 1e-2], 'metric': 'val_acc'}   # a one-rate search scores nothing: no metric
    (tmp_path / 'lr_search.json').write_text(json.dumps(rec | {'trials': [dict(lr=3e38, score=math.nan, diverged='x'), dict(lr=1e-2, score=0.5)]}))
    assert search_lr(REIN, (3e38, 1e-2), out=tmp_path, train_fn=no_training)['lr'] == 1e-2   # max() would keep a leading nan


def test_rows_read_back_from_summaries_equal_fresh_ones(tmp_path):
    "A curve's nan (no validation, no binary weights) is null in summary.json and nan again when the comparison is read back: plots and tables work on both."
    import matplotlib; matplotlib.use('Agg')
    from sbn_estimators.lr_search import plot_comparison, comparison_table
    def stub(cfg, out=None, callbacks=(), progress=False):
        for e in (1, 2):
            for cb in callbacks: cb(e, dict(epoch=e, train_loss=1 / e, val_loss=math.nan, val_acc=math.nan, flip_ratio=math.nan))
        return dict(test_loss=1., test_acc=0.5, test_ens_acc=0.5, test_det_acc=0.5, seconds_per_epoch=1.)
    base = TrainConfig(data='digits', epochs=2, device='cpu', val=0)
    fresh = run_comparison(base, {'st': {}}, tmp_path, seeds=(0,), grid=(1e-2,), train_fn=stub, log=None)
    again = run_comparison(base, {'st': {}}, tmp_path, seeds=(0,), grid=(1e-2,), train_fn=no_training, log=None)
    same = lambda a, b: a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))
    assert [sorted(r) for r in fresh] == [sorted(r) for r in again]
    assert all(same(a[k], b[k]) for f, g in zip(fresh, again) for a, b in zip(f['curve'], g['curve']) for k in a)
    for rows in (fresh, again):
        plot_comparison(rows, metrics=('train_loss', 'flip_ratio'))
        assert '| st | 0.01 | 1 |' in comparison_table(rows)
