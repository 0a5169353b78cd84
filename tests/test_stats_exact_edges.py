"Edges of the statistics helpers and of exact enumeration: low-precision estimates, extreme thresholds, limits and counts."
import math
import pytest
import torch
from sbn_estimators.stats import z_scores, z_test, z_threshold
from sbn_estimators.exact import binary_states, exact_memory, exact_memory_limit, exact_loss
from sbn_estimators.sbn import SBNMLP, cos_data, init_sbn_


@pytest.mark.parametrize('dtype, bias', [(torch.bfloat16, 0.3), (torch.float16, 0.05)])
def test_z_scores_see_a_bias_in_16_bit_estimates(dtype, bias):
    "64 epsilons of bfloat16 are half the value: the rounding allowance of 16-bit estimates is their own half epsilon, so a bias shows."
    g = torch.Generator().manual_seed(0)
    t = torch.tensor([1.0, 0.5])
    s = t * (1 + bias) + 0.01 * torch.randn(1000, 2, generator=g)
    assert (z_scores(s.to(dtype), t.to(dtype)).abs() > 20).all()   # old rule: 0
    exact_equal = torch.tensor([[1.0, 0.5]] * 4).to(dtype)   # a deterministic estimate equal to the target in its dtype
    assert (z_scores(exact_equal, t.to(dtype)) == 0).all()

def test_z_threshold_for_many_tests():
    "1 - alpha/tests rounds to 1 below 1e-16: the threshold stays finite and accurate (the normal quantile of alpha / (2 tests))."
    assert math.isfinite(z_threshold(10 ** 14)) and math.isfinite(z_threshold(1, alpha=1e-17))
    assert abs(z_threshold(10 ** 12) - 8.02686) < 1e-4
    assert abs(z_threshold(1, alpha=0.05) - 1.959964) < 1e-6

def test_z_test_needs_a_group():
    with pytest.raises(ValueError, match='samples must hold at least one group'): z_test({}, {})

def test_exact_memory_limit_from_the_environment(monkeypatch):
    monkeypatch.setenv('SBN_EXACT_MAX_BYTES', 'inf')
    assert exact_memory_limit() == math.inf
    X, Y = cos_data()
    net = init_sbn_(SBNMLP([2, 3, 3, 1]), X)
    assert torch.isfinite(exact_loss(net, X, Y))   # no limit
    for bad in ('0.5', '-1', 'nan', 'four'):
        monkeypatch.setenv('SBN_EXACT_MAX_BYTES', bad)
        with pytest.raises(ValueError, match=r"SBN_EXACT_MAX_BYTES must be a number of bytes >= 1"): exact_memory_limit()

@pytest.mark.parametrize('bad', [-1, 2.5, True])
def test_counts_are_checked(bad):
    with pytest.raises(ValueError, match='n must be an integer >= 0'): binary_states(bad)
    net = SBNMLP([2, 3, 1])
    for batch in (bad, 0):
        with pytest.raises(ValueError, match='batch must be a positive integer'): exact_memory(net, batch)
