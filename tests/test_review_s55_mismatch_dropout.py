"`mismatch` measures networks with dropout (off throughout, as the deterministic reference asks); smoothed gradients refuse CPU seeds that repeat a smaller one's draws."
import pytest, torch
from torch import nn
from sbn_estimators.binaryduo import Quantize, decouple
from sbn_estimators.mismatch import mismatch, smoothed_grad

def _net(drop, steps=1):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 6), nn.BatchNorm1d(6), Quantize(steps), drop, nn.Linear(6, 3)).double()

def test_dropout_is_off_in_the_measurement():
    torch.manual_seed(1); x, y = torch.randn(32, 8, dtype=torch.float64), torch.randint(0, 3, (32,))
    plain, dropped = _net(nn.Identity()), _net(nn.Dropout(0.2))
    dropped[3].eval()   # a module the user put in eval mode stays measurable
    r0, r1 = (mismatch(m, x, y, proxies=['clipped_st'], samples=20, seed=3) for m in (plain, dropped))
    assert r0['cos'] == r1['cos'] and r0['ceiling'] == r1['ceiling']
    assert dropped[3].training is False and plain.training   # each module's flag back after the measurement

def test_decoupled_with_paired_dropout():
    torch.manual_seed(1); x, y = torch.randn(32, 8, dtype=torch.float64), torch.randint(0, 3, (32,))
    duo = decouple(_net(nn.Dropout(0.2), steps=2))
    r = mismatch(duo, x, y, samples=20, seed=3)
    assert all(0 < c < float('inf') for c in r['ceiling'].values())

def test_cpu_seed_range():
    f = lambda ps: (ps[0] ** 2).sum(1)
    w = torch.ones(3, dtype=torch.float64)
    with pytest.raises(ValueError, match="low 32 bits"): smoothed_grad(f, [w], samples=10, seed=2**32)
    torch.testing.assert_close(smoothed_grad(f, [w], samples=10, seed=2**32 - 1)[0], smoothed_grad(f, [w], samples=10, seed=2**32 - 1)[0])

def test_mismatch_largest_seed():
    torch.manual_seed(1); x, y = torch.randn(16, 8, dtype=torch.float64), torch.randint(0, 3, (16,))
    r = mismatch(_net(nn.Identity()), x, y, proxies=['clipped_st'], samples=4, seed=2**32 - 1)
    assert set(r['cos']['clipped_st']) == {'0.weight', '4.weight'}
