"""Float32 flip sums keep their digits where a unit is saturated on either side: for a symmetric noise each unit with
a > 0 is reflected (F(a - 2Wx) - F(a) = -(F(-a + 2Wx) - F(-a))), so no F rounds to 1 and no difference of two
numbers near 1 loses the float32 digits; the eager path and both compiled kernels alike (review s58, fx11)."""
import pytest
import torch
from sbn_estimators.core import NOISES, Noise
from sbn_estimators.sbn import SBNMLP
import sbn_estimators.psa as P
from sbn_estimators.psa import flip_sum, psa_loss, compiler_works

BACKENDS = ['eager', 'compiled']
CASES = [('logistic', a) for a in (8., 12., 16., 20.)] + [('normal', 6.)]

@pytest.fixture(autouse=True, scope='module')
def one_thread():
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

def skip_uncompiled(backend):
    if backend == 'compiled' and not compiler_works('cpu'): pytest.skip('torch.compile does not work here')

def rel(got, ref): return ((got.double() - ref).norm() / ref.norm()).item()

def build(noise, a0, sgn, dt):
    "A [2, 3, 3, 1] net whose layer-1 units sit at a = sgn * a0 (the mirror image for sgn = -1: same float64 gradient)."
    net = SBNMLP([2, 3, 3, 1], noise=noise, dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for l in net.layers:
            l.weight.copy_(torch.randn(l.weight.shape, generator=g, dtype=torch.float64) * 0.7)
            l.bias.copy_(torch.randn(l.bias.shape, generator=g, dtype=torch.float64) * 0.3)
        net.layers[1].bias.fill_(a0)
        if sgn < 0: net.layers[1].weight.neg_(); net.layers[1].bias.neg_(); net.layers[2].weight.neg_()
    return net.to(dt)

def layer0_grad(noise, a0, sgn, dt, backend):
    x = torch.tensor([[0.3, -0.8], [1.1, 0.4]], dtype=dt); y = torch.tensor([[1.], [-1.]], dtype=dt)
    s0 = torch.tensor([[1., -1., 1.], [-1., -1., 1.]], dtype=dt); s1 = sgn * torch.tensor([[1., 1., -1.], [1., 1., 1.]], dtype=dt)
    net = build(noise, a0, sgn, dt)
    psa_loss(net, x, y, states=[s0, s1], backend=backend).sum().backward()
    return torch.cat([net.layers[0].weight.grad.flatten(), net.layers[0].bias.grad]).double()

@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('noise,a0', CASES)
@pytest.mark.parametrize('sgn', [1, -1])
def test_float32_psa_gradient_at_saturated_units(backend, noise, a0, sgn):
    "Layer 0's float32 PSA gradient within 1e-5 of float64 whether layer 1's units sit at +a0 or -a0 (old: 2.9e-4 to 1.0 at +a0)."
    skip_uncompiled(backend)
    ref = layer0_grad(noise, a0, sgn, torch.float64, backend)
    assert rel(layer0_grad(noise, a0, sgn, torch.float32, backend), ref) <= 1e-5

@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('noise,a0', CASES)
def test_float32_flip_sum_at_saturated_units(backend, noise, a0):
    "The flip sum itself, of float32 inputs with a = ±a0, within 1e-5 of the float64 sum of the same inputs."
    skip_uncompiled(backend)
    g = torch.Generator().manual_seed(0)
    N, K, C = 6, 5, 7
    x = torch.randint(0, 2, (N, K), generator=g).float() * 2 - 1
    a = a0 * (torch.randint(0, 2, (N, C), generator=g).float() * 2 - 1) + 0.1 * torch.randn(N, C, generator=g)
    gt, W = torch.randn(N, C, generator=g), 0.5 * torch.randn(C, K, generator=g)
    nz = NOISES[noise]
    ref = flip_sum(*(t.double() for t in (x, a, gt, W)), nz, backend=backend)
    for side, sel in (('a > 0', a > 0), ('a < 0', a < 0)):   # each side alone: one side's digits not hidden by the other's larger terms
        got, want = (flip_sum(x, a, gt * sel, W, nz, backend=backend),
                     flip_sum(*(t.double() for t in (x, a, gt * sel, W)), nz, backend=backend))
        assert rel(got, want) <= 1e-5, side
    assert rel(flip_sum(x, a, gt, W, nz, backend=backend), ref) <= 1e-5

def test_symmetric_names_are_symmetric():
    "Every noise whose flip sums reflect is symmetric, F(-u) = 1 - F(u); all four registered noises are."
    u = torch.linspace(-3, 3, 61, dtype=torch.float64)
    assert set(P._SYMMETRIC) == set(NOISES)
    for n in P._SYMMETRIC: torch.testing.assert_close(NOISES[n].cdf(-u), 1 - NOISES[n].cdf(u), rtol=0, atol=1e-15)

class Gumbel(Noise):
    "An asymmetric noise (a user's): F(a) = exp(-exp(-a))."
    name = 'gumbel_fx11'
    full_support = True
    def cdf(self, a): return torch.exp(-torch.exp(-a))
    def pdf(self, a): return torch.exp(-a - torch.exp(-a))

@pytest.mark.parametrize('backend', BACKENDS)
def test_asymmetric_noise_not_reflected(backend):
    "A noise not known to be symmetric keeps the plain sum: reflecting would compute F(-u) as if it were 1 - F(u)."
    skip_uncompiled(backend)
    g = torch.Generator().manual_seed(2)
    x = torch.randint(-1, 2, (4, 3), generator=g).double()
    a, gt, W = torch.randn(4, 5, generator=g, dtype=torch.float64) * 2, torch.randn(4, 5, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64)
    nz = Gumbel()
    full = (gt[:, None, :] * (nz.cdf(a[:, None, :] - 2 * W.T[None] * x[:, :, None]) - nz.cdf(a[:, None, :]))).sum(-1)
    torch.testing.assert_close(flip_sum(x, a, gt, W, nz, backend=backend), full, rtol=1e-10, atol=1e-12)
