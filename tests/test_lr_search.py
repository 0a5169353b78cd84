"`run_comparison` with the real trainer: a seed run stopped part-way continues from its checkpoint, and its row is an uninterrupted run's."
import json
import pytest, torch
from sbn_estimators.train import TrainConfig, train
from sbn_estimators.lr_search import run_comparison

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
