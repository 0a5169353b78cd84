"Review s53, Z2: `PairedDropout` draws its mask in the input's memory order (channels_last too); `gradient_report`'s `seconds` time the draws only, the warm-up's time is `warmup_seconds`; the catalogue card shows the warm-up."
import time
import pytest
import torch
from torch import nn
import sbn_estimators.gradeval as G
from sbn_estimators.binaryduo import decouple, Quantize
from sbn_estimators.catalogue import estimator_card


@pytest.mark.parametrize('fmt', [torch.contiguous_format, torch.channels_last])
def test_paired_dropout_same_seed_as_coupled_for_any_memory_format(fmt):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        m = nn.Sequential(nn.Conv2d(2, 5, 3, padding=1), nn.BatchNorm2d(5), Quantize(2), nn.Dropout(0.3), nn.Conv2d(5, 3, 3)).double()
        d = decouple(m).train(); m.train()
        x = torch.randn(4, 2, 6, 6, dtype=torch.float64).to(memory_format=fmt)
        with torch.no_grad():
            torch.manual_seed(2); a = m(x)
            torch.manual_seed(2); b = d(x)
    assert torch.allclose(a, b, atol=1e-12), (a - b).abs().max().item()   # was 0.77 apart for channels_last


@pytest.fixture(scope='module')
def toy():
    return G.train_toy_sbn(epochs=2)


def test_seconds_exclude_the_warm_up(toy, monkeypatch):
    net, X, Y = toy
    real = G._warm_up
    def slow(*args, **kw):
        time.sleep(1.0); return real(*args, **kw)
    monkeypatch.setattr(G, '_warm_up', slow)
    r = G.gradient_report(net, X, Y, 'reinforce:baseline=ema,reinforce', samples=10, chunk=5, warmup=3, Ms=[1], progress=False)
    ema, plain = r['estimators']['reinforce:baseline=ema'], r['estimators']['reinforce']
    assert ema['seconds'] < 0.5 and plain['seconds'] < 0.5, (ema['seconds'], plain['seconds'])   # was > 1: the warm-up counted
    assert ema['warmup_seconds'] >= 1.0 and 'warmup_seconds' not in plain                        # only where a warm-up ran


def test_reports_without_warm_up_keep_their_keys(toy):
    net, X, Y = toy
    r = G.gradient_report(net, X, Y, 'reinforce:baseline=ema,st', samples=10, chunk=5, Ms=[1], progress=False)
    for e in r['estimators'].values(): assert set(e) - {'paths'} == {'spec', 'state_sha256', 'sbn_estimators', 'params', 'stochastic', 'seconds', 'groups', 'curves'}   # paths: reinforce's


def test_card_shows_the_warm_up():
    row = dict(samples=10, seconds=0.5, file='gradeval_x.json', groups=[], warmup=50, warmup_seconds=0.25)
    assert '(10 estimates, 0.5 s, after 50 warm-up calls (0.25 s), from `gradeval_x.json`)' in estimator_card('reinforce', {'reinforce': row})
    for plain in ({**row, 'warmup': 0}, {k: v for k, v in row.items() if k not in ('warmup', 'warmup_seconds')}):
        assert '(10 estimates, 0.5 s, from `gradeval_x.json`)' in estimator_card('reinforce', {'reinforce': plain})
