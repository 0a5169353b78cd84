"Review s50 (measurement methodology): the bench's IQR lies within the rounds (nbs/10c_bench.ipynb), one seed has no std (nbs/13a_lr_search.ipynb), a search can score the deterministic loss, and the group-wide resolution's limit stated on page 04 holds."
import statistics
import pytest, torch
from sbn_estimators.bench import run_cases
from sbn_estimators.lr_search import comparison_table, search_lr, SEARCH_METRICS
from sbn_estimators.train import TrainConfig
from sbn_estimators.gradeval import gradient_metrics

torch.set_num_threads(1)

@pytest.mark.parametrize('repeats', [2, 3, 5])
def test_bench_iqr_is_within_the_range_of_the_rounds(repeats, monkeypatch):
    "With 2 rounds the exclusive quartiles reached outside the data (IQR 1.5 times the range); inclusive ones cannot."
    seen = []
    real = statistics.quantiles
    def spy(data, **kw):
        seen.append(list(data)); return real(data, **kw)
    monkeypatch.setattr(statistics, 'quantiles', spy)
    rows = run_cases('fc', ['st', 'float'], repeats=repeats, threads=1, batch=8)
    for r, t in zip(rows, seen):
        assert r['seconds_iqr'] <= max(t) - min(t) + 1e-15, (r['seconds_iqr'], t)
        q1, _, q3 = real(t, n=4, method='inclusive')
        assert r['seconds_iqr'] == q3 - q1

def _row(seed, acc):
    return dict(method='st', seed=seed, lr=0.01, test_acc=acc, test_ens_acc=acc, test_det_acc=acc, seconds_per_epoch=1.25)

def test_one_seed_shows_no_spread():
    line = comparison_table([_row(0, 0.9)]).splitlines()[-1]
    assert line == '| st | 0.01 | 1 | 90.00 ± – | 90.00 ± – | 90.00 ± – | 1.2 ± – |', line
    two = comparison_table([_row(0, 0.90), _row(1, 0.91)]).splitlines()[-1]
    assert '90.50 ± 0.71' in two   # the sample std, ddof 1

def test_search_can_score_the_deterministic_loss():
    "A deterministic configuration's own loss (val_det_loss) prefers 1e-2; the sampled network's loss would take 1e-3."
    assert SEARCH_METRICS['val_det_loss'] == 'min'
    loss, det = {1e-3: 5., 1e-2: 9.}, {1e-3: 2., 1e-2: 0.3}
    def stub(cfg, out=None, callbacks=(), progress=False):
        for cb in callbacks: cb(1, dict(epoch=1, val_acc=0.5, val_det_acc=0.5, val_loss=loss[cfg.lr], val_det_loss=det[cfg.lr]))
    cfg = TrainConfig(model='sbn_mlp:width=16', estimator='st:deterministic=true')
    assert search_lr(cfg, (1e-3, 1e-2), metric='val_det_loss', train_fn=stub)['lr'] == 1e-2
    assert search_lr(cfg, (1e-3, 1e-2), metric='val_loss', train_fn=stub)['lr'] == 1e-3
    det[1e-2] = float('nan')   # its own loss not finite: diverged, never chosen
    assert search_lr(cfg, (1e-3, 1e-2), metric='val_det_loss', train_fn=stub)['lr'] == 1e-3

def test_one_noisy_coordinate_coarsens_its_group():
    "Page 04: spreads 100 and 0.01, the second biased by 0.5, S = 2000: p = 1 with that coordinate unresolved; alone, p = 0."
    torch.manual_seed(0)
    g = torch.ones(2, dtype=torch.float64)
    est = g + torch.stack([100 * torch.randn(2000, dtype=torch.float64), 0.5 + 0.01 * torch.randn(2000, dtype=torch.float64)], 1)
    both, alone = gradient_metrics(est, g), gradient_metrics(est[:, 1:], g[1:])
    assert both['p_unbiased'] == 1. and both['unresolved'] == 1
    assert alone['p_unbiased'] == 0. and alone['unresolved'] == 0
