"""The compiled PSA flip sum equals the eager reference (CPU); the backend switch and the fallback.

Each noise's kernel is compiled once (dynamic shapes) and reused by every test below; the shapes avoid sizes 0
and 1, which `torch.compile` specialises on, so that no test recompiles."""
import math, warnings
import pytest
import torch
import torch.nn.functional as F
from sbn_estimators.core import NOISES
from sbn_estimators import psa
from sbn_estimators.psa import flip_sum, flip_sum_eager, flip_sum_compiled, psa_backend, fc_flip_backward
from sbn_estimators.sbn import SBNMLP
from sbn_estimators.sbn_conv import SBNConvNet, conv_flip_backward
from sbn_estimators.estimators import estimator

RTOL = 1e-5

def assert_rel_close(got, ref):
    "Equal to RTOL relative to the largest entry of the reference."
    torch.testing.assert_close(got, ref, rtol=RTOL, atol=RTOL * ref.abs().max().item())

@pytest.fixture(autouse=True, scope='module')
def one_thread():
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

def scaled(noise, t):
    "Weights and pre-activations of a size that keeps bounded noises away from saturation everywhere."
    return t * (0.3 if noise in ('uniform', 'triangular') else 1.0)

@pytest.mark.parametrize('noise', list(NOISES))
def test_fc_compiled_equals_eager(noise):
    nz, g = NOISES[noise], torch.Generator().manual_seed(0)
    for B, n_in, n_out in ((13, 7, 9), (64, 33, 20), (5, 130, 3)):
        x_in, x_out = (torch.randint(0, 2, (B, n), generator=g).float() * 2 - 1 for n in (n_in, n_out))
        W = scaled(noise, torch.randn(n_out, n_in, generator=g) / math.sqrt(n_in))
        a = scaled(noise, torch.randn(B, n_out, generator=g))
        gr = torch.randn(B, n_out, generator=g)
        ref = fc_flip_backward(gr, x_in, x_out, a, W, nz, backend='eager')
        assert_rel_close(fc_flip_backward(gr, x_in, x_out, a, W, nz, backend='compiled'), ref)

@pytest.mark.parametrize('noise', list(NOISES))
def test_conv_compiled_equals_eager(noise):
    nz, g = NOISES[noise], torch.Generator().manual_seed(1)
    for B, cin, cout, hw, k, stride, pad in ((2, 3, 4, 9, 3, 1, 1), (3, 2, 5, 8, 5, 2, 2), (2, 4, 3, 7, 1, 1, 0), (4, 3, 2, 6, 3, 2, 0)):
        x_in = torch.randint(0, 2, (B, cin, hw, hw), generator=g).float() * 2 - 1
        W = scaled(noise, torch.randn(cout, cin, k, k, generator=g) / math.sqrt(cin * k * k))
        a = F.conv2d(x_in, W, stride=stride, padding=pad)
        x_out = torch.randint(0, 2, a.shape, generator=g).float() * 2 - 1
        gr = torch.randn(a.shape, generator=g)
        ref = conv_flip_backward(gr, x_in, x_out, a, W, nz, stride, pad, backend='eager')
        assert_rel_close(conv_flip_backward(gr, x_in, x_out, a, W, nz, stride, pad, backend='compiled'), ref)

def test_batched_weights_and_broadcast_rows():
    "Leading sample dimensions: per-sample weights (as `sample_params` gives) and weights shared by all samples."
    nz, g = NOISES['logistic'], torch.Generator().manual_seed(2)
    S, N, K, C = 6, 20, 5, 7
    x = torch.randint(-1, 2, (S, N, K), generator=g).float()
    a, gt = torch.randn(2, S, N, C, generator=g)
    for W in (torch.randn(S, C, K, generator=g), torch.randn(C, K, generator=g)):
        assert_rel_close(flip_sum(x, a, gt, W, nz, backend='compiled'), flip_sum_eager(x, a, gt, W, nz))

def test_extreme_values_fall_back_to_eager():
    "Beyond the range where e^{-a} e^{2w} cannot overflow, the compiled path gives the eager result, not NaN."
    nz, g = NOISES['logistic'], torch.Generator().manual_seed(3)
    x = torch.randint(0, 2, (10, 6), generator=g).float() * 2 - 1
    a, gt = torch.randn(2, 10, 8, generator=g)
    W = torch.randn(8, 6, generator=g)
    a[0, 0], W[0, 0] = -300., 60.
    r = flip_sum_compiled(x, a, gt, W, nz)
    assert torch.isfinite(r).all()
    assert_rel_close(r, flip_sum_eager(x, a, gt, W, nz))

@pytest.mark.parametrize('make', ['fc', 'conv'])
def test_psa_gradients_same_for_both_backends(make):
    "A whole PSA step: the same samples give the same gradient with either backend."
    torch.manual_seed(4)
    if make == 'fc':
        net = SBNMLP([12, 10, 9, 3], loss='cross_entropy', dtype=torch.float32)
        x, y = torch.rand(16, 12), torch.randint(0, 3, (16,))
    else:
        net = SBNConvNet((2, 8, 8), [(3, 3, 1, 1), (4, 3, 2, 0)], 3)
        x, y = torch.rand(4, 2, 8, 8), torch.randint(0, 3, (4,))
    grads = {}
    for b in ('eager', 'compiled'):
        torch.manual_seed(5); net.zero_grad()
        estimator('psa', backend=b).surrogate(net, x, y).backward()
        grads[b] = [p.grad.clone() for p in net.parameters()]
    for ge, gc in zip(grads['eager'], grads['compiled']): assert_rel_close(gc, ge)

def test_conv_under_autocast_same_for_both_backends(monkeypatch):
    """bfloat16 autocast on a float32 conv SBN: both backends take the flip sums in float32, the same gradient to the
    resolution of bfloat16. The conv layers' weight gradients come out of a bfloat16 conv backward, so a float32
    rounding difference upstream (the compiled head's) can move an element by one bfloat16 step (2^-8 relative): on a
    CPU with native bfloat16 (avx512_bf16) it does. Flip sums taken in bfloat16 are off by several such steps."""
    torch.manual_seed(4)
    net = SBNConvNet((2, 8, 8), [(3, 3, 1, 1), (4, 3, 2, 0)], 3)
    x, y = torch.rand(4, 2, 8, 8), torch.randint(0, 3, (4,))
    def grads(backend):
        torch.manual_seed(5); net.zero_grad()
        with torch.autocast('cpu', torch.bfloat16): s = estimator('psa', backend=backend).surrogate(net, x, y)
        s.backward()
        return [p.grad.clone() for p in net.parameters()]
    def within_bf16(got, ref):   # each element within one bfloat16 step of itself or of the largest one
        return all(torch.allclose(g, r, rtol=2 ** -7, atol=2 ** -7 * r.abs().max().item()) for g, r in zip(got, ref))
    eager, compiled = grads('eager'), grads('compiled')
    assert all(g.dtype == torch.float32 and torch.isfinite(g).all() for g in compiled)
    assert within_bf16(compiled, eager)
    def bf16_flip_sums(ctx, g):   # the wrong variant: the flip sums in bfloat16
        x_in, x_out, a, W = (t.to(torch.bfloat16) for t in ctx.saved_tensors)
        G = ctx.ops.flip_backward(g.to(torch.bfloat16), x_in, x_out, a, W, ctx.noise, 'eager')
        return (G.to(ctx.q_dtype),) + (None,) * 7
    monkeypatch.setattr(psa._Flip, 'backward', staticmethod(bf16_flip_sums))
    assert not within_bf16(grads('eager'), eager)

def test_backend_switch(monkeypatch):
    assert psa_backend('compiled') == 'compiled'
    monkeypatch.setenv('PSA_BACKEND', 'eager')
    assert psa_backend() == 'eager' and estimator('psa').backend is None
    monkeypatch.setenv('PSA_BACKEND', 'fast')
    with pytest.raises(ValueError, match="from the PSA_BACKEND environment variable"): psa_backend()
    with pytest.raises(ValueError, match="one of auto, eager, compiled, got 'gpu'"): estimator('psa', backend='gpu')

def test_compiled_backend_compiles_any_size(monkeypatch):
    "backend='compiled' takes the compiled kernel whatever the size (only 'auto' has a threshold): a flip sum of 480 terms runs it."
    assert psa.use_compiled('compiled', 1, torch.device('cpu')) and not psa.use_compiled('auto', 1, torch.device('cpu'))
    calls, real = [], psa.flip_sum_compiled
    monkeypatch.setattr(psa, 'flip_sum_compiled', lambda *args: calls.append(1) or real(*args))
    nz, g = NOISES['logistic'], torch.Generator().manual_seed(3)   # the shapes of test_extreme_values_fall_back_to_eager: no recompile
    x = torch.randint(0, 2, (10, 6), generator=g).float() * 2 - 1
    a, gt = torch.randn(2, 10, 8, generator=g)
    W = torch.randn(8, 6, generator=g)
    assert_rel_close(flip_sum(x, a, gt, W, nz, backend='compiled'), flip_sum_eager(x, a, gt, W, nz))
    assert calls == [1] and psa._compiled.cache_info().currsize >= 1   # the logistic kernel is built (or was, by an earlier test)

def test_auto_falls_back_when_compilation_fails(monkeypatch):
    "No working compiler: 'auto' warns once and uses the eager path, for the flip sums and the head."
    def broken(*args, **kwargs): raise RuntimeError("no C++ compiler")
    psa.compiler_works.cache_clear()
    monkeypatch.setattr(torch, 'compile', broken)
    monkeypatch.setattr(psa, 'PSA_COMPILE_MIN', 0)
    try:
        nz, g = NOISES['logistic'], torch.Generator().manual_seed(6)
        x = torch.randint(0, 2, (10, 6), generator=g).float() * 2 - 1
        a, gt = torch.randn(2, 10, 8, generator=g)
        W = torch.randn(8, 6, generator=g)
        with pytest.warns(UserWarning, match="torch.compile does not work on cpu .*no C\\+\\+ compiler"):
            r = flip_sum(x, a, gt, W, nz, backend='auto')
        assert_rel_close(r, flip_sum_eager(x, a, gt, W, nz))
        net = SBNMLP([12, 10, 9, 3], loss='cross_entropy', dtype=torch.float32)
        xb, yb = torch.rand(16, 12), torch.randint(0, 3, (16,))
        with warnings.catch_warnings():
            warnings.simplefilter('error')          # remembered: no second attempt, no second warning
            estimator('psa', backend='auto').surrogate(net, xb, yb).backward()
    finally: psa.compiler_works.cache_clear()


def test_psa_estimator_uses_its_own_backend(monkeypatch):
    import torch
    import sbn_estimators.psa as psa
    from sbn_estimators.estimators import estimator
    from sbn_estimators.sbn import SBNMLP
    seen, use = [], psa.use_compiled
    monkeypatch.setattr(psa, 'use_compiled', lambda backend, *a, **k: seen.append(backend) or use(backend, *a, **k))
    torch.manual_seed(0)
    net = SBNMLP([4, 3, 3, 2], loss='cross_entropy', dtype=torch.float32)
    estimator('psa:backend=eager').surrogate(net, torch.randn(5, 4), torch.randint(0, 2, (5,))).backward()
    assert seen and set(seen) == {'eager'}
