"""Float32 flip sums keep their precision at large fan-out: every path (eager, chunked, compiled; fully connected and
conv) sums the per-term differences F(a - 2Wx) - F(a), never two large sums subtracted after the fact (review s49)."""
import math
import pytest
import torch
from sbn_estimators.core import NOISES
from sbn_estimators.psa import flip_sum, flip_sum_eager, flip_sum_compiled, compiler_works, fc_flip_backward
from sbn_estimators.sbn_conv import conv_flip_backward

U = torch.finfo(torch.float32).eps / 2   # unit roundoff of float32, 2^-24
LAM = 6.0   # probabilistic rounding-error analysis: a bound exceeded with probability at most 2 exp(-LAM^2 / 2) < 3e-8

@pytest.fixture(autouse=True, scope='module')
def one_thread():
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

def problem(noise, ws, N=4, K=8, C=4096, seed=0):
    """Float32 inputs of a flip sum with C outputs and weights of scale `ws`; gt >= 0 and W >= 0, so the C terms of
    each S_nk share one sign (no cancellation among the differences themselves), while each of the two sums
    sum_c gt F(.) is about C/2 times larger than any term."""
    g = torch.Generator().manual_seed(seed)
    s = 0.3 if noise in ('uniform', 'triangular') else 1.0
    x = torch.randint(0, 2, (N, K), generator=g).float() * 2 - 1
    a = s * torch.randn(N, C, generator=g)
    gt = torch.randn(N, C, generator=g).abs()
    W = ws * torch.randn(C, K, generator=g).abs()
    return x, a, gt, W

def exact_and_tolerance(x, a, gt, W, nz):
    """The float64 flip sum of the (exactly representable) float32 inputs, and the tolerance of a float32 one.

    Float32 arithmetic rounds each operation with a relative error of at most u = 2^-24. Per term c the two cdfs
    F1 = F(a - 2Wx) and F2 = F(a) are each within a few roundings of their value (the rounded argument moves F by at
    most u max|z f(z)| < u, the cdf itself a few more u: 4u (F + 1) covers both), and the difference and the product
    with gt add u |term|: |e_c| <= b_c = 4u |gt_c| (F1 + F2 + 2) + u |term_c|. Rounding errors modelled as independent
    and of mean zero (Higham & Mary, SIAM J. Sci. Comput. 2019), their sum stays below LAM sqrt(sum_c b_c^2), and
    summing the C terms in float32, in any order, adds at most LAM sqrt(C) u sum_c |term_c|, each except with
    probability 2 exp(-LAM^2/2). The subtraction of the two sums sum_c gt F1 - sum_c gt F2 instead errs by about u
    times those sums, C/2 times the size of a term: some sqrt(C) (64 at C = 4096) times beyond this tolerance."""
    X = [t.double() for t in (x, a, gt, W)]
    F1 = nz.cdf(X[1][:, None, :] - 2 * X[3].T[None] * X[0][:, :, None])   # [N, K, C]
    F2 = nz.cdf(X[1])[:, None, :]
    terms = X[2][:, None, :] * (F1 - F2)
    b = U * X[2][:, None, :] * (3 * (F1 + F2) + 1) + U * terms.abs()
    C = a.shape[-1]
    tol = LAM * (b.square().sum(-1).sqrt() + math.sqrt(C) * U * terms.abs().sum(-1))
    return terms.sum(-1), tol

def check(got, exact, tol, what):
    err = (got.double() - exact).abs()
    assert (err <= tol).all(), f"{what}: float32 error {(err / tol).max().item():.3g} times the tolerance"

PATHS = {'eager': lambda x, a, gt, W, nz: flip_sum_eager(x, a, gt, W, nz),
         'eager, chunks of 17 outputs': lambda x, a, gt, W, nz: flip_sum_eager(x, a, gt, W, nz, chunk=17 * x.shape[-1]),
         'eager, chunks of one row': lambda x, a, gt, W, nz: flip_sum_eager(x, a, gt, W, nz, chunk=a.shape[-1] * x.shape[-1]),
         "flip_sum backend='eager'": lambda x, a, gt, W, nz: flip_sum(x, a, gt, W, nz, backend='eager'),
         'compiled': lambda x, a, gt, W, nz: flip_sum_compiled(x, a, gt, W, nz),
         "flip_sum backend='compiled'": lambda x, a, gt, W, nz: flip_sum(x, a, gt, W, nz, backend='compiled')}

@pytest.mark.parametrize('noise', list(NOISES))
@pytest.mark.parametrize('path', list(PATHS))
def test_float32_flip_sum_at_large_fan_out(noise, path):
    if 'compiled' in path and not compiler_works('cpu'): pytest.skip('torch.compile does not work here')
    nz = NOISES[noise]
    for ws in (1e-3, 1e-5):
        x, a, gt, W = problem(noise, ws)
        exact, tol = exact_and_tolerance(x, a, gt, W, nz)
        check(PATHS[path](x, a, gt, W, nz), exact, tol, f"{path}, {noise}, weights ~{ws:g}")

@pytest.mark.parametrize('backend', ['eager', 'compiled'])
def test_float32_fc_flip_backward_at_large_fan_out(backend):
    "The layer's flip sum (`fc_flip_backward`, gt = -x_out g) as precise; x_out = -1 and g >= 0 give gt >= 0."
    if backend == 'compiled' and not compiler_works('cpu'): pytest.skip('torch.compile does not work here')
    nz = NOISES['logistic']
    x, a, gt, W = problem('logistic', 1e-5, seed=1)
    exact, tol = exact_and_tolerance(x, a, gt, W, nz)
    check(fc_flip_backward(gt, x, -torch.ones_like(gt), a, W, nz, backend=backend), exact, tol, f'fc_flip_backward {backend}')

@pytest.mark.parametrize('backend', ['eager', 'compiled'])
def test_float32_conv_flip_backward_at_large_fan_out(backend):
    "A conv layer's flip sum (1x1 kernel on a 2x2 image: one row per pixel) has C = C_out outputs per term as well."
    if backend == 'compiled' and not compiler_works('cpu'): pytest.skip('torch.compile does not work here')
    nz, g = NOISES['logistic'], torch.Generator().manual_seed(2)
    B, cin, cout, H = 1, 8, 4096, 2
    x_in = torch.randint(0, 2, (B, cin, H, H), generator=g).float() * 2 - 1
    a = torch.randn(B, cout, H, H, generator=g)
    gr = torch.randn(B, cout, H, H, generator=g).abs()
    W = 1e-5 * torch.randn(cout, cin, 1, 1, generator=g).abs()
    rows = lambda t: t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])   # [B H W, channels]
    exact, tol = exact_and_tolerance(rows(x_in), rows(a), rows(gr), W[:, :, 0, 0], nz)
    got = conv_flip_backward(gr, x_in, -torch.ones_like(gr), a, W, nz, 1, 0, backend=backend)
    check(rows(got), exact, tol, f'conv_flip_backward {backend}')
