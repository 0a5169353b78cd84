"""Review s44 (fixD), pages 10, 10a and 10d: a compiled PSA head (or flip sum) allows retain_graph and create_graph; adf and
local_reparam name themselves when a model has no PSA operations; adf_moments' sample and unit; binary_moments' mu, var
and noise; SBNConvNet's convs; the low-level flip sums check their arguments against each other."""
import re
import numpy as np
import pytest, torch
from sbn_estimators.core import NOISES, LogisticNoise
from sbn_estimators.sbn import SBNMLP
from sbn_estimators.estimators import estimator
from sbn_estimators.psa import PSA, psa_ops, flip_sum, flip_sum_eager, flip_sum_compiled, fc_flip_backward
from sbn_estimators.sbn_conv import SBNConvNet, conv_flip_backward
from sbn_estimators.adf import adf_moments, binary_moments

torch.set_num_threads(1)
NZ = NOISES['logistic']


def fails(f, message):
    with pytest.raises(ValueError, match=re.escape(message)): f()


# --- 1. compiled kernels under retain_graph and create_graph ---------------------------------------------------------

@pytest.fixture(scope='module')
def small_psa():
    "A 3-4-4-2 float64 net (two binary layers: one flip sum, then the head) and its data; the compiled graphs are shared by the tests below."
    torch.manual_seed(0)
    net = SBNMLP([3, 4, 4, 2], loss='cross_entropy')
    return net, torch.randn(5, 3, dtype=torch.float64), torch.randint(0, 2, (5,))

def _grads(net, x, y, backend, how):
    ps = list(net.parameters())
    for p in ps: p.grad = None
    torch.manual_seed(1); L = PSA(backend).surrogate(net, x, y)
    if how == 'twice': L.backward(retain_graph=True); L.backward()
    else: L.backward()
    return [p.grad.clone() for p in ps]

def test_compiled_psa_allows_retain_graph(small_psa):
    "The compiled head used to raise 'compiled with non-empty donated buffers' on a second backward; the result is the eager one."
    before = torch._functorch.config.donated_buffer
    eager, compiled = _grads(*small_psa, 'eager', 'twice'), _grads(*small_psa, 'compiled', 'twice')
    for e, c in zip(eager, compiled): torch.testing.assert_close(c, e, rtol=1e-9, atol=1e-12)
    assert torch._functorch.config.donated_buffer == before   # the switch is turned off only inside the kernels' own backward
    for t, o in zip(compiled, _grads(*small_psa, 'compiled', 'once')): torch.testing.assert_close(t, 2 * o, rtol=1e-9, atol=1e-12)   # twice one backward

@pytest.mark.parametrize('backend', ['eager', 'compiled'])
def test_psa_refuses_create_graph(small_psa, backend):
    "PSA's gradient estimate is not twice differentiable (review s46): a backward under create_graph raises, compiled or not (it used to return a wrong Hessian)."
    net, x, y = small_psa
    torch.manual_seed(1); L = PSA(backend).surrogate(net, x, y)
    with pytest.raises(RuntimeError, match="psa: the gradient estimate of PSA .* is not twice differentiable"):
        torch.autograd.grad(L, list(net.parameters()), create_graph=True)

def test_compiled_kernels_allow_create_graph():
    "The compiled head kernel itself (flip_losses) stays twice differentiable under create_graph: its backward recomputes it eagerly."
    from sbn_estimators.psa import flip_losses
    torch.manual_seed(0)
    a0, V = torch.randn(5, 2, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    xf, y = torch.randn(5, 4, dtype=torch.float64).sign(), torch.randint(0, 2, (5,))
    loss = lambda a, t: torch.nn.functional.cross_entropy(a.movedim(-1, 1) if a.ndim > 2 else a, t.expand(a.shape[:-1]) if a.ndim > 2 else t, reduction='none')
    def second(backend):
        a, v = a0.clone().requires_grad_(), V.clone().requires_grad_()
        g = torch.autograd.grad(flip_losses(a, xf, v, y, loss, backend).sum(), (a, v), create_graph=True)
        return torch.autograd.grad(sum((t * t).sum() for t in g), (a, v))
    for e, c in zip(second('eager'), second('compiled')): torch.testing.assert_close(c, e, rtol=1e-9, atol=1e-12)


# --- 2. the estimator that asks names itself --------------------------------------------------------------------------

class Wrapped(torch.nn.Module):   # an SBN model by protocol, not by class: no PSA operations
    def __init__(self): super().__init__(); self.m = SBNMLP([3, 4, 2], loss='cross_entropy')
    def __getattr__(self, k):
        try: return super().__getattr__(k)
        except AttributeError: return getattr(self.m, k)
    def forward(self, x, activation=None, params=None): return self.m(x, activation, params)

def test_adf_and_local_reparam_name_themselves_for_a_model_without_psa_operations():
    net, x, y = Wrapped(), torch.randn(2, 3, dtype=torch.float64), torch.tensor([0, 1])
    for name in ('adf', 'local_reparam', 'psa'):
        fails(lambda: estimator(name).surrogate(net, x, y), f"{name} does not support Wrapped; supported: SBNMLP, SBNConvNet")
    fails(lambda: adf_moments(net, x, sample=True), "local_reparam does not support Wrapped")
    fails(lambda: psa_ops(net, who='mine'), "mine does not support Wrapped")
    assert len(psa_ops(net.m, who='adf')) == 1 and psa_ops.registry[SBNMLP] is not None   # the registry as before


# --- 3. adf_moments' sample and unit ------------------------------------------------------------------------------------

def test_adf_moments_takes_sample_as_a_bool_and_a_callable_unit():
    net, x = SBNMLP([2, 3, 3, 1]), torch.randn(4, 2, dtype=torch.float64)
    for bad in ('False', 1, 0, None):
        fails(lambda: adf_moments(net, x, sample=bad), f"sample must be True (local reparameterisation) or False (ADF), got {bad!r}")
    fails(lambda: adf_moments(net, x, unit='x'), "unit must be a moment map (mu, var, noise) -> (m, v)")
    torch.manual_seed(0); a = adf_moments(net, x, sample=False)
    torch.manual_seed(0); b = adf_moments(net, x)
    for s, t in zip(a, b): torch.testing.assert_close(s, t)


# --- 4. binary_moments --------------------------------------------------------------------------------------------------

class Logistic2(LogisticNoise):
    name = 'logistic2'

def test_binary_moments_checks_mu_var_and_noise():
    fails(lambda: binary_moments(torch.zeros(5, 1), torch.ones(3)), "var must have mu's shape [5, 1], broadcast to it or be a scalar")
    fails(lambda: binary_moments(torch.zeros(3), torch.ones(2, 3)), "var must have mu's shape [3]")
    fails(lambda: binary_moments(0.5, 0.), "mu must be a floating-point tensor of pre-activation means, got float")
    fails(lambda: binary_moments(torch.tensor([1, 2]), 0.5), "mu must be a floating-point tensor of pre-activation means, got torch.int64")
    fails(lambda: binary_moments(torch.zeros(2), 1., Logistic2()),
          "noise: the variance-matched unit needs the noise's variance, known for logistic, normal, uniform, triangular; got the Logistic2 'logistic2'")
    net = SBNMLP([2, 3, 1], noise=Logistic2())
    fails(lambda: adf_moments(net, torch.randn(4, 2, dtype=torch.float64)), "got the Logistic2 'logistic2'")
    for var in (0., torch.tensor(1.), torch.ones(1, 3), torch.ones(5, 3)):   # a scalar or what broadcasts to mu's shape
        assert [t.shape for t in binary_moments(torch.zeros(5, 3), var)] == [(5, 3), (5, 3)]


# --- 5. SBNConvNet's convs ----------------------------------------------------------------------------------------------

def test_conv_net_convs_must_be_a_list_of_four_sequences():
    fails(lambda: SBNConvNet((1, 6, 6), (2, 3, 1, 0), 3),
          "each conv is (out_channels, kernel, stride, padding), got (2, 3, 1, 0); convs lists one per binary layer: "
          "for one layer pass [(out_channels, kernel, stride, padding)]")
    fails(lambda: SBNConvNet((1, 6, 6), np.array([[2, 3, 1, 0]]), 3),
          "convs must be a list with one (out_channels, kernel, stride, padding) per binary layer, got ndarray")
    fails(lambda: SBNConvNet((1, 6, 6), np.array([[2, 3, 1, 0]]), 3), "pass convs.tolist()")
    fails(lambda: SBNConvNet((1, 6, 6), [np.array([2, 3, 1, 0])], 3), "each conv is (out_channels, kernel, stride, padding)")
    assert SBNConvNet((1, 6, 6), np.array([[2, 3, 1, 0]]).tolist(), 3).convs == [(2, 3, 1, 0)]


# --- 6. the low-level flip sums ---------------------------------------------------------------------------------------

def flip_args():
    g = torch.Generator().manual_seed(0)
    return torch.randn(4, 6, generator=g).sign(), torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g), torch.randn(3, 6, generator=g)

@pytest.mark.parametrize('f', [flip_sum, flip_sum_eager, flip_sum_compiled])
def test_flip_sums_check_their_arguments(f):
    x, a, gt, W = flip_args()
    fails(lambda: f(x, a, gt, W, 'logistic'), "noise must be a Noise, got 'logistic'; pass get_noise('logistic')")
    fails(lambda: f(x, a, gt, W[:, :5], NZ), "W: expected [..., C, K] = [..., 3, 6] (C = 3 outputs of a, K = 6 inputs of x), got [3, 5]")
    fails(lambda: f(x, a, gt, W[:2], NZ), "W: expected [..., C, K] = [..., 3, 6]")
    fails(lambda: f(x, a, gt[:2], W, NZ), "gt: expected [..., N, C] = [..., 4, 3] as a, got [2, 3]")
    fails(lambda: f(x, a[:3], gt[:3], W, NZ), "a: expected [..., N, C] with N = 4 rows as x [..., N, K], got [3, 3]")
    fails(lambda: f(x.expand(2, 4, 6), a.expand(3, 4, 3), gt, W, NZ), "x, a, gt, W: leading dimensions must broadcast")
    fails(lambda: f(x[0], a, gt, W, NZ), "x must be a tensor of at least 2 dimensions, got [6]")
    if f is not flip_sum_compiled:
        for chunk in (-3, 0, 2.5, True):
            fails(lambda: f(x, a, gt, W, NZ, chunk=chunk), f"chunk must be a positive integer (None: PSA_CHUNK), got {chunk!r}")
    torch.testing.assert_close(flip_sum(x, a, gt, W, NZ, chunk=5, backend='eager'), flip_sum_eager(x, a, gt, W, NZ))

def test_fc_flip_backward_checks_its_arguments():
    x, a, gt, W = flip_args()
    fails(lambda: fc_flip_backward(gt[:, :2], x, gt.sign(), a, W, NZ), "g: expected [..., N, C] = [..., 4, 3] as a, got [4, 2]")
    fails(lambda: fc_flip_backward(gt, x, gt.sign()[:3], a, W, NZ), "x_out: expected [..., B, out] = [..., 4, 3] as a, got [3, 3]")
    fails(lambda: fc_flip_backward(gt, x[:, :5], gt.sign(), a, W, NZ), "W: expected [..., C, K] = [..., 3, 5] (C = 3 outputs of a, K = 5 inputs of x_in)")

def test_conv_flip_backward_checks_its_arguments():
    g = torch.Generator().manual_seed(1)
    x_in, x_out = torch.randn(2, 3, 9, 9, generator=g).sign(), torch.randn(2, 4, 4, 4, generator=g).sign()
    gr, a, W = torch.randn(2, 4, 4, 4, generator=g), torch.randn(2, 4, 4, 4, generator=g), torch.randn(4, 3, 5, 5, generator=g)
    ok = conv_flip_backward(gr, x_in, x_out, a, W, NZ, 2, 1)
    assert ok.shape == x_in.shape
    fails(lambda: conv_flip_backward(gr, x_in, x_out, a, W, NZ, 1, 1),
          "g: expected [..., C_out, H', W'] = [2, 4, 7, 7] (from x_in [2, 3, 9, 9], W [4, 3, 5, 5], stride 1, padding 1), got [2, 4, 4, 4]; "
          "are stride and padding those of the layer?")
    fails(lambda: conv_flip_backward(gr, x_in, x_out, a[:1], W, NZ, 2, 1), "a: expected [..., C_out, H', W'] = [2, 4, 4, 4]")
    fails(lambda: conv_flip_backward(gr, x_in, x_out, a, W, NZ, 0, 1), "stride must be a positive integer, got 0")
    fails(lambda: conv_flip_backward(gr, x_in, x_out, a, W, NZ, 2, -1), "padding must be a non-negative integer, got -1")
    fails(lambda: conv_flip_backward(gr, x_in, x_out, a, W, 'logistic', 2, 1), "noise must be a Noise, got 'logistic'")
    fails(lambda: conv_flip_backward(gr, x_in, x_out, a, W[..., :4], NZ, 2, 1), "W: expected square kernels [C_out, C_in, k, k], got [4, 3, 5, 4]")
    fails(lambda: conv_flip_backward(gr, x_in[:, :2], x_out, a, W, NZ, 2, 1), "x_in: expected [..., C_in, H, W] with C_in = 3 as W, got [2, 2, 9, 9]")
    fails(lambda: conv_flip_backward(gr, x_in[..., :3, :3], x_out, a, W, NZ, 2, 0), "W: a 5x5 kernel with padding 0 does not fit x_in's 3x3")
    fails(lambda: conv_flip_backward(gr, x_in, x_out, a, W, NZ, 2, 1, chunk=-1), "chunk must be a positive integer")
