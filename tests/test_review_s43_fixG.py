"""Review fixes (s43, G), page 05: `swish_sign` refuses a beta whose peak slope (beta, at a = 0) overflows the input's
dtype instead of giving infinite or NaN gradients in float16, as `ede` does; every local estimator's forward refuses
pre-activations that are not floating point with one ValueError naming their dtype; `approx_sign`'s proxy keeps NaN."""
import math, pytest, torch
import sbn_estimators as S
from sbn_estimators.estimators import LocalEstimator
from sbn_estimators.layers import local_estimators

torch.set_num_threads(1)
h = torch.float16
from test_review_unbiased_s42 import fails   # a ValueError whose message holds every part


def test_swish_sign_float16_overflow_refused():
    a = torch.tensor([0., 1e-6, .3], dtype=h, requires_grad=True)
    est = S.estimator('swish_sign:beta=1e5,deterministic=true')
    fails(lambda: est(a), 'beta=100000', 'SwishSign', 'peak slope of 100000', 'torch.float16', '65504', 'use float32', 'beta <= 6.55e+04')
    fails(lambda: est.slope(a.detach()), 'beta <= 6.55e+04')
    est = S.estimator('swish_sign', beta=65504., deterministic=True)   # the largest float16: finite gradients
    a = torch.tensor([0., 1e-6, .3], dtype=h, requires_grad=True)
    (est(a) * torch.tensor([0., 1, 1], dtype=h)).sum().backward()
    assert a.grad.isfinite().all(), a.grad
    assert est.slope(torch.zeros(1, dtype=h)).item() == 65504.
    big = S.estimator('swish_sign', beta=1e5)   # float32 and bfloat16 hold the slope: unchanged
    assert big.slope(torch.zeros(1)).item() == 1e5
    assert big.slope(torch.zeros(1, dtype=torch.bfloat16)).isfinite().all()
    grid = torch.arange(-3000, 3001, dtype=torch.float64) / 1000   # beta is the peak slope, at a = 0
    for beta in (0.5, 5., 1e3):
        s = S.estimator('swish_sign', beta=beta).slope(grid)
        assert s.max().item() == pytest.approx(beta, rel=1e-12) and grid[s.argmax()].item() == 0.


@pytest.mark.parametrize('name', local_estimators())
@pytest.mark.parametrize('x', [torch.tensor([1, -1, 0]), torch.tensor([True, False, True])], ids=['int64', 'bool'])
def test_local_estimators_refuse_non_float(name, x):
    est = S.estimator(name)
    fails(lambda: est(x), f"estimator {est.name!r}", 'pre-activations a', 'floating-point', f'got dtype {x.dtype}')
    fails(lambda: est.forward(x), f'got dtype {x.dtype}')   # the class's forward itself, not only nn.Module's call
    for dtype in (torch.float32, torch.float64):
        a = torch.tensor([-0.5, 0.25, 1.5], dtype=dtype, requires_grad=True)
        y = S.estimator(name)(a)
        assert y.shape == a.shape and y.is_floating_point()


def test_user_subclass_checked_and_kw_call():
    class Mine(LocalEstimator):
        def forward(self, pre): return pre.sign()
    fails(lambda: Mine()(torch.tensor([1])), "'Mine'", 'pre-activations pre', 'torch.int64', 'pre.float()')
    fails(lambda: Mine()(pre=torch.tensor([True])), 'torch.bool')
    assert Mine()(torch.tensor([-2.])).item() == -1.


def test_approx_sign_proxy_keeps_nan():
    est = S.estimator('approx_sign')
    for dtype in (h, torch.float32, torch.float64):
        p = est.proxy(torch.tensor([math.nan, -2., 1., 0.5, 0.], dtype=dtype))
        assert p[0].isnan() and p[1:].tolist() == [-1., 1., 0.75, 0.], p
    a = torch.tensor([-2., 1., 3.], dtype=torch.float64, requires_grad=True)   # flat outside: gradient 0, at |a| = 1 too
    est.proxy(a).sum().backward()
    assert a.grad.tolist() == [0., 0., 0.]
    for n in ('st', 'dst', 'identity_st', 'clipped_st', 'approx_sign', 'swish_sign'):
        assert S.estimator(n).proxy(torch.tensor([math.nan])).isnan().all(), n
