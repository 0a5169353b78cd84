"ADF / local reparameterisation: argument validation and registry entries (the maths is checked in nbs/10d_adf.ipynb)."
import math
import pytest
import torch
from sbn_estimators.estimators import estimator, list_estimators
from sbn_estimators.sbn import SBNMLP
from sbn_estimators.adf import Adf, LocalReparam, adf_moments, binary_moments


def test_registry_names_and_specs():
    assert {'adf', 'ap2', 'local_reparam'} <= set(list_estimators())
    assert type(estimator('ap2')) is Adf and type(estimator('local_reparam')) is LocalReparam
    assert estimator('adf').spec == 'adf' and estimator('local_reparam', head='squashed').spec == 'local_reparam:head=squashed'


def test_bad_arguments():
    with pytest.raises(ValueError, match="head must be 'linear' or 'squashed', got 'tanh'"): estimator('adf', head='tanh')
    with pytest.raises(ValueError, match='valid parameters: head='): estimator('local_reparam', tau=1)
    net = SBNMLP([3, 4, 1])
    with pytest.raises(ValueError, match="head must be"): adf_moments(net, torch.zeros(2, 3, dtype=torch.float64), head='sigmoid')
    with pytest.raises(ValueError, match='unknown noise'): binary_moments(torch.zeros(2), torch.zeros(2), 'cauchy')


def test_batched_copies_are_independent():
    "Copy 0's gradient is unchanged when only the other copies change: no mixing between copies."
    torch.manual_seed(0)
    net = SBNMLP([3, 4, 4, 2], loss='cross_entropy')
    x, y = torch.randn(5, 3, dtype=torch.float64), torch.tensor([0, 1, 1, 0, 1])
    for name in ('adf', 'local_reparam'):
        grads = []
        for scale in (1, 3):
            params = net.sample_params(3)
            with torch.no_grad():
                for pair in params:
                    for p in pair: p[1:] *= scale                 # copies 1.. only
            torch.manual_seed(1)                                  # the same draws
            estimator(name).surrogate(net, x, y, params).backward()
            grads.append(params[0][0].grad)                       # [3, 4, 3]: one estimate per copy
        g, h = grads
        assert g.shape == (3, 4, 3) and torch.isfinite(g).all() and torch.isfinite(h).all()
        assert torch.equal(g[0], h[0]) and not torch.equal(g[1], h[1]) and not torch.equal(g[0], g[1]), name


def test_rejects_non_sbn_models():
    with pytest.raises(ValueError, match="estimator 'adf' needs an SBN model"): estimator('adf').surrogate(torch.nn.Linear(3, 2), torch.zeros(2, 3), torch.zeros(2, dtype=torch.long))


def test_noise_variances_are_those_of_the_samples():
    "NOISE_VARIANCE (the variance ADF matches) is each noise's own variance: the sample variance of 400 000 draws agrees within the Bonferroni threshold"
    " over the four noises, its relative standard error sqrt((kurtosis - 1)/n) from each noise's kurtosis; a variance 2 % off is rejected."
    from sbn_estimators.core import get_noise
    from sbn_estimators.adf import NOISE_VARIANCE
    from sbn_estimators.stats import z_threshold
    kurtosis = {'logistic': 4.2, 'normal': 3., 'uniform': 1.8, 'triangular': 2.4}   # m4 / sigma^4
    assert kurtosis.keys() == NOISE_VARIANCE.keys()
    thr, n = z_threshold(len(NOISE_VARIANCE)), 400_000
    torch.manual_seed(0)
    for name, var in NOISE_VARIANCE.items():
        z = get_noise(name).sample((n,), dtype=torch.float64)
        c = z - z.mean()
        assert abs((c ** 4).mean() / c.square().mean() ** 2 - kurtosis[name]) < 0.2, name   # the kurtosis behind the standard error (loosely: its own estimate is noisy)
        rse = math.sqrt((kurtosis[name] - 1) / n)
        assert abs(z.var().item() / var - 1) / rse < thr, (name, z.var().item(), var)
        assert abs(z.var().item() / (1.02 * var) - 1) / rse > thr, name   # a wrong variance is caught


def test_binary_moments_takes_a_scalar_variance():
    "The docstring's scalar 0: the same as a tensor of zeros, in mu's dtype."
    for dtype in (torch.float32, torch.float64):
        mu = torch.tensor([0.5, -1., 3.], dtype=dtype)
        for var in (0, 0.):
            for got, want in zip(binary_moments(mu, var), binary_moments(mu, torch.zeros_like(mu))):
                assert got.dtype == dtype and torch.equal(got, want)


def test_adf_moments_checks_its_inputs():
    "The checks of the estimators' surrogate, where they would give NaN or a wrong shape silently."
    net = SBNMLP([3, 4, 2])
    with pytest.raises(ValueError, match=r"x \(inputs\) has 6 non-finite value"): adf_moments(net, torch.full((2, 3), math.nan, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"x: inputs must have shape \[B, 3\], got \[3\]; a single example needs its batch dimension"):
        adf_moments(net, torch.zeros(3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"x: inputs must have shape \[B, 3\], got \[5, 4\]"): adf_moments(net, torch.zeros(5, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"x: inputs must have the network's dtype torch\.float64"): adf_moments(net, torch.zeros(5, 3))
    with pytest.raises(ValueError, match=r"params: expected 2 \(W, b\) pairs"): adf_moments(net, torch.zeros(5, 3, dtype=torch.float64), params=net.layer_params()[:1])
