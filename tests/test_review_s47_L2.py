"""Review s47, fix L2: `swish_sign`'s slope stays accurate in its far tail while representable (it was 0 where
sigmoid(-|beta a|) left the normal range); `mean_field` gives a NaN gradient at a NaN pre-activation for every noise
(uniform and triangular gave 0), without a host sync; `adf` / `local_reparam` in float16 keep finite gradients where a
squared weight overflows (|W| >= 256: the sampled pre-activations infinite, the variance's backward 0 * inf = NaN).
Each test fails on the code before the fix; each also checks that ordinary inputs give the same results as before."""
import math
import mpmath
import pytest, torch
import sbn_estimators as S
from sbn_estimators.core import NOISES
from sbn_estimators.sbn import SBNMLP

torch.set_num_threads(1)
DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


# --- 1. swish_sign: the slope's far tail ----------------------------------------------------------------------------

def swish_true(beta, x):
    "The slope at beta a = x, by mpmath (e^-|x| / (1 + e^-|x|)^2: no 1 - sigmoid cancelling)."
    x = mpmath.mpf(x)
    e = mpmath.exp(-abs(x))
    return float(2 * mpmath.mpf(beta) * e / (1 + e) ** 2 * (2 - x * mpmath.tanh(x / 2)))


def old_swish_slope(beta, a):
    "The formula before the fix (exact to it wherever its factors stay normal)."
    ba = (beta * a.to(torch.promote_types(a.dtype, torch.float32))).clamp(-1e4, 1e4)
    return (2 * beta * torch.sigmoid(ba) * torch.sigmoid(-ba) * (2 - ba * torch.tanh(ba / 2))).to(a.dtype)


@pytest.mark.parametrize('beta', [0.5, 5., 100.])
@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16, torch.float64])
def test_swish_sign_slope_far_tail_accurate_while_representable(beta, dtype):
    sw = S.estimator('swish_sign', beta=beta)
    cd = torch.promote_types(dtype, torch.float32)
    top = 740. if dtype == torch.float64 else 104.
    x = torch.linspace(60., top, 301, dtype=torch.float64)
    a = torch.cat([x, -x]).div(beta).to(dtype)
    got = sw.slope(a).double()
    ba = (beta * a.to(cd)).double()   # the slope at beta a as the code rounds it: its error relative to that
    want = torch.tensor([swish_true(beta, b) for b in ba.tolist()], dtype=torch.float64)
    normal = want.abs() >= torch.finfo(dtype).tiny
    assert normal.sum() > 100
    rel = (got - want).abs()[normal] / want.abs()[normal]
    tol = 2 ** -8 if dtype == torch.bfloat16 else 8 * torch.finfo(dtype).eps   # bfloat16: rounded once from float32
    assert rel.max() <= tol, (rel.max().item(), a[normal][rel.argmax()].item())   # was 1 (a slope of 0) from |beta a| = 89 (float32)
    assert (got[~normal].abs() <= torch.finfo(dtype).tiny).all()   # below the normal range: subnormal or 0, never larger


def test_swish_sign_slope_unchanged_on_ordinary_inputs_and_16_bits():
    g = torch.Generator().manual_seed(0)
    base = torch.cat([torch.linspace(-20, 20, 4001, dtype=torch.float64), 3 * torch.randn(2000, generator=g, dtype=torch.float64),
                      torch.tensor([0., -0., 1e-30, math.inf, -math.inf, 2e4, -1e38], dtype=torch.float64)])
    for beta in (0.05, 0.5, 5., 20.):
        sw = S.estimator('swish_sign', beta=beta)
        for dtype in DTYPES:
            a = base.to(dtype)
            ordinary = (beta * a.double()).abs() <= 87.   # the old formula's factors stay normal: bit for bit as before
            assert torch.equal(sw.slope(a)[ordinary], old_swish_slope(beta, a)[ordinary]), (beta, dtype)
        h = base.half()   # float16: computed in float32, rounded once, as before (its tail is 0 either way)
        assert torch.equal(sw.slope(h), old_swish_slope(beta, h)) and torch.equal(sw.slope(h), sw.slope(h.float()).half())
    nan = S.estimator('swish_sign').slope(torch.tensor([math.nan, math.inf, -math.inf]))
    assert nan[0].isnan() and nan[1:].tolist() == [0., 0.]


def test_swish_sign_backward_in_the_far_tail():
    "The gradient a backward pass leaves is the slope: about -2e-36 at a = 17.8 (beta 5) in float32, not 0."
    a = torch.tensor([17.8, -17.8, 18.5], requires_grad=True)
    S.estimator('swish_sign', deterministic=True)(a).sum().backward()
    want = torch.tensor([swish_true(5., v) for v in (5 * a.detach()).tolist()], dtype=torch.float64)   # at beta a in float32
    assert (a.grad.double() - want).abs().max() <= 1e-6 * want.abs().max() and (a.grad < 0).all(), a.grad


# --- 2. mean_field: NaN in, NaN gradient out, for every noise ------------------------------------------------------

@pytest.mark.parametrize('noise', list(NOISES))
@pytest.mark.parametrize('dtype', DTYPES)
def test_mean_field_nan_gradient_for_every_noise(noise, dtype):
    mf = S.estimator('mean_field', noise=noise)
    a = torch.tensor([math.nan, 0.5, -0.25, 2., -math.inf, 0.], dtype=dtype, requires_grad=True)
    y = mf(a)
    assert y[0].isnan() and torch.equal(y[1:].detach(), NOISES[noise].mean(a.detach()[1:]))   # the forward as before
    g, = torch.autograd.grad(y.sum(), a)
    assert g[0].isnan(), (noise, dtype, g)   # was 0 for uniform and triangular noise
    want = (2 * NOISES[noise].pdf(a.detach()[1:].to(torch.promote_types(dtype, torch.float32)))).to(dtype)
    assert torch.isfinite(g[1:]).all() and torch.allclose(g[1:].double(), want.double(), rtol=1e-2, atol=0)


def test_mean_field_nan_gradient_without_host_sync_and_twice_differentiable():
    for noise in NOISES:
        mf = S.estimator('mean_field', noise=noise)
        a = torch.tensor([[math.nan, 0.3], [-0.7, math.nan]], dtype=torch.float64)
        # vmap refuses data-dependent Python control flow (.item(), bool of a tensor): the NaN path has none
        g = torch.func.vmap(torch.func.grad(lambda r: mf(r).sum()))(a)
        assert g.isnan().tolist() == [[True, False], [False, True]], (noise, g)
        x = torch.tensor([math.nan, 0.3, -0.6], dtype=torch.float64, requires_grad=True)
        d, = torch.autograd.grad(mf(x).sum(), x, create_graph=True)
        if noise != 'uniform':   # the uniform's derivative is piecewise constant: no graph to differentiate again
            dd, = torch.autograd.grad(d.sum(), x)
            assert dd[0].isnan() and dd[1:].isfinite().all()
        b = torch.tensor([0.3, -0.6, 0.45], dtype=torch.float64, requires_grad=True)   # away from the kinks
        assert torch.autograd.gradgradcheck(mf, (b,))


# --- 3. adf / local_reparam: squared weights that overflow float16 ---------------------------------------------------

def _grads(name, dtype, scale, head='linear', noise='logistic'):
    torch.manual_seed(0)
    net = SBNMLP([2, 3, 3, 1], dtype=dtype, noise=noise)
    x = torch.randn(4, 2).to(dtype); y = torch.tensor([[1.], [-1.], [1.], [-1.]]).to(dtype)
    with torch.no_grad(): net.layers[scale[0]].weight.mul_(scale[1])
    torch.manual_seed(1)
    loss = S.estimator(name, head=head).surrogate(net, x, y)
    loss.backward()
    return loss.detach(), [p.grad for p in net.parameters()]


@pytest.mark.parametrize('name', ['local_reparam', 'adf'])
@pytest.mark.parametrize('head', ['linear', 'squashed'])
@pytest.mark.parametrize('layer', [1, 2])
def test_adf_float16_gradients_finite_where_squared_weights_overflow(name, head, layer):
    "|W| = 300 to 1000: W * W is inf in float16 (finite in float32): the gradients were NaN; they are finite, as in float32."
    for noise in NOISES:
        _, g32 = _grads(name, torch.float32, (layer, 1e3), head, noise)
        assert all(t.isfinite().all() for t in g32)
        _, g16 = _grads(name, torch.float16, (layer, 1e3), head, noise)
        assert all(t.isfinite().all() for t in g16), (name, head, layer, noise, g16)


def test_local_reparam_float16_large_sampled_pre_activations():
    "The case of the report: a variance 3 * 300^2 whose W^2 overflows float16; the sampled pre-activations (std 519.6) are finite since s49's scaled variances; finite gradients."
    from sbn_estimators.adf import adf_moments, _moments
    torch.manual_seed(0)
    net = SBNMLP([2, 3, 3, 1], dtype=torch.float16)
    with torch.no_grad(): net.layers[0].weight.zero_(); net.layers[0].bias.zero_(); net.layers[1].weight.fill_(300.)   # v = 1: var = 3 * 300^2
    x = torch.randn(4, 2).half()
    seen = []
    def unit(mu, var, noise): seen.append(mu.detach()); return _moments(mu, var, noise)
    torch.manual_seed(1)
    adf_moments(net, x, sample=True, unit=unit)
    assert seen[1].isfinite().all() and seen[1].abs().max() > 100   # the second layer's sampled pre-activations: finite, of the std's size
    torch.manual_seed(1)
    S.estimator('local_reparam').surrogate(net, x, torch.ones(4, 1).half()).backward()
    assert all(p.grad.isfinite().all() for p in net.parameters()), [p.grad for p in net.parameters()]


def _adf_by_definition(name, dtype, head='linear'):
    """`_grads(name, dtype, (1, 3.))` by the definition, with W * W unscaled: what ordinary weights must give. 16-bit (since
    s49 I): propagated in float32 from the inputs and parameters cast to it, the sampled logits rounded once to the dtype."""
    from sbn_estimators import adf as A
    from sbn_estimators.estimators import reduce_loss
    from sbn_estimators.psa import psa_ops
    torch.manual_seed(0)
    net = SBNMLP([2, 3, 3, 1], dtype=dtype)
    x = torch.randn(4, 2).to(dtype); y = torch.tensor([[1.], [-1.], [1.], [-1.]]).to(dtype)
    with torch.no_grad(): net.layers[1].weight.mul_(3.)
    torch.manual_seed(1)
    ops = psa_ops(net, who=name)
    cd = torch.promote_types(dtype, torch.float32)
    *hidden, (V, c) = [(W.to(cd), b.to(cd)) for W, b in net.layer_params()]
    m, v = x.to(cd), None
    for (W, b), op in zip(hidden, ops):
        mu = op.affine(m, W, b)
        var = torch.zeros_like(mu) if v is None else op.affine(v, W * W, torch.zeros_like(b))
        if name == 'local_reparam' and v is not None: mu, var = mu + A._std(var) * A._gauss(mu), torch.zeros_like(mu)
        m, v = A._moments(mu, var, net.noise)
    mu, var = A.linear(op.flatten(m), V, c), A.linear(op.flatten(v), V * V, torch.zeros_like(c))
    if head == 'squashed': mu, var = A._moments(mu, var, net.noise)
    loss = reduce_loss(net.loss((mu + A._std(var) * A._gauss(mu)).to(dtype), y))
    loss.backward()
    return loss.detach(), [p.grad for p in net.parameters()]


@pytest.mark.parametrize('head', ['linear', 'squashed'])
def test_adf_unchanged_on_ordinary_weights(head):
    "Weights far below the scaling threshold: the same loss and gradients, bit for bit, as propagating W * W unscaled."
    for dtype in DTYPES:
        for name in ('adf', 'local_reparam'):
            new, old = _grads(name, dtype, (1, 3.), head), _adf_by_definition(name, dtype, head)
            assert torch.equal(new[0], old[0]) and all(torch.equal(p, q) for p, q in zip(new[1], old[1])), (dtype, name)
