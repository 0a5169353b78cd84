"Review s46, fix P: local_reparam/adf and BayesBiNN draw their noise in index order (torch.randn/rand of the shape, not *_like), so a channels_last input or parameter gives the draws of its contiguous copy under the same seed; psa's gradient is not twice differentiable: a backward under create_graph raises (eager, compiled, chunked psa_expectation) instead of returning a wrong Hessian."
import pytest, torch
from sbn_estimators.estimators import estimator
from sbn_estimators.sbn import SBNMLP
from sbn_estimators.sbn_conv import SBNConvNet
from sbn_estimators.adf import adf_moments
from sbn_estimators.binary_weights import BinaryWeightConv2d
from sbn_estimators.binary_optimizers import BayesBiNN, binary_param_groups

torch.set_num_threads(1)
CL = torch.channels_last


# 1. local_reparam / adf: the draws do not follow the input's memory layout

def conv_net():
    torch.manual_seed(0)
    net = SBNConvNet((2, 5, 5), [(2, 3, 1, 0), (2, 2, 1, 0)], 2, dtype=torch.float64)
    x = torch.randn(4, 2, 5, 5, dtype=torch.float64)
    return net, x, torch.tensor([0, 1, 0, 1])


@pytest.mark.parametrize('name', ['local_reparam', 'adf'])
def test_adf_draws_ignore_channels_last(name):
    net, x, y = conv_net()
    out = []
    for xx in (x, x.contiguous(memory_format=CL)):
        torch.manual_seed(3); out.append(estimator(name).surrogate(net, xx, y))
    torch.testing.assert_close(out[0], out[1], rtol=1e-12, atol=1e-12)   # local_reparam was 0.5752 vs 0.5047


def test_adf_moments_sample_ignores_channels_last():
    net, x, _ = conv_net()
    out = []
    for xx in (x, x.contiguous(memory_format=CL)):
        torch.manual_seed(3); out.append(adf_moments(net, xx, sample=True)[0])
    torch.testing.assert_close(out[0], out[1], rtol=1e-12, atol=1e-12)


def test_local_reparam_contiguous_draws_unchanged():
    "For a contiguous input the index-order draw is randn_like's: the same numbers as before the fix."
    net, x, y = conv_net()
    torch.manual_seed(3); mu, var = adf_moments(net, x, sample=True)
    want = net.loss(mu + var.sqrt() * torch.randn_like(mu), y).mean()
    torch.manual_seed(3); got = estimator('local_reparam').surrogate(net, x, y)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


# 2. BayesBiNN: the first sample (delta) of a channels_last conv weight is the contiguous one's

def test_bayesbinn_delta_ignores_channels_last():
    deltas, weights = [], []
    for cl in (False, True):
        torch.manual_seed(0); m = torch.nn.Sequential(BinaryWeightConv2d(2, 3, 3))
        if cl: m = m.to(memory_format=CL)
        torch.manual_seed(5); opt = BayesBiNN(binary_param_groups(m), train_size=10)
        deltas.append(opt.state[m[0].weight]['delta']); weights.append(m[0].weight.detach().clone())
    assert torch.equal(deltas[0], deltas[1])          # was: delta[0, :, 0, 0] = [0.79, 2.57] vs [0.79, -0.97]
    assert torch.equal(weights[0], weights[1])


# 3. PSA's gradient estimate under create_graph: a gradient penalty matches central finite differences of the estimate, or raises

from sbn_estimators.psa import psa_loss, psa_expectation


def _surrogates():
    return {
        'psa eager': lambda n, x, y, p: estimator('psa:backend=eager').surrogate(n, x, y, p),
        'psa compiled': lambda n, x, y, p: estimator('psa:backend=compiled').surrogate(n, x, y, p),
        'psa_loss': lambda n, x, y, p: psa_loss(n, x, y, p).mean(),
        'psa_loss linearise': lambda n, x, y, p: psa_loss(n, x, y, p, linearise=True).mean(),
        'psa_expectation': lambda n, x, y, p: psa_expectation(n, x, y, [(w.squeeze(0), b.squeeze(0)) for w, b in p]),
    }


@pytest.mark.parametrize('name', list(_surrogates()))
@pytest.mark.parametrize('sizes', [[3, 4, 2], [3, 4, 4, 2]])
def test_psa_gradient_penalty_matches_finite_differences_or_raises(name, sizes):
    """v^T J u of the estimate g(theta) (J its Jacobian, at a fixed seed, float64): autograd's grad(g . v) . u against
    v . (g(theta + e u) - g(theta - e u)) / 2e. PSA's double backward used to return a wrong one silently."""
    sfun = _surrogates()[name]
    torch.manual_seed(0); net = SBNMLP(sizes, loss='cross_entropy', dtype=torch.float64)
    x = torch.randn(6, 3, dtype=torch.float64); y = torch.randint(0, 2, (6,))
    ps = list(net.parameters()); torch.manual_seed(9)
    v, u = [torch.randn_like(p) for p in ps], [torch.randn_like(p) for p in ps]
    def g_at(t, create=False):
        q = [(p + t * d).unsqueeze(0) for p, d in zip(ps, u)]   # one copy of the parameters
        torch.manual_seed(1); s = sfun(net, x, y, list(zip(q[::2], q[1::2])))
        return torch.autograd.grad(s, ps, create_graph=create)
    try:
        g = g_at(0., True)
        gv = sum((a * d).sum() for a, d in zip(g, v))
        hv = torch.autograd.grad(gv, ps, allow_unused=True)
    except RuntimeError as err:
        assert 'not twice differentiable' in str(err) and 'retain_graph=True works' in str(err)
        return
    ad = sum((h * d).sum() for h, d in zip(hv, u) if h is not None).item()
    e = 1e-5; fd = sum((((a - b) / (2 * e)) * d).sum() for a, b, d in zip(g_at(e), g_at(-e), v)).item()
    assert abs(ad - fd) <= 1e-5 * max(1., abs(fd)), (ad, fd)


def test_psa_expectation_chunked_refuses_create_graph():
    "t16 of the review: with the examples split into chunks the gradients came back detached (no error) and the penalty's gradient was off by 0.018."
    torch.manual_seed(0); net = SBNMLP([3, 8, 8, 2], loss='cross_entropy', dtype=torch.float64)   # 16 units: one example per chunk
    x, y = torch.randn(2, 3, dtype=torch.float64), torch.tensor([0, 1])
    f = psa_expectation(net, x, y)
    with pytest.raises(RuntimeError, match='psa_expectation: .*not twice differentiable'):
        torch.autograd.grad(f, list(net.parameters()), create_graph=True)
    f = psa_expectation(net, x, y)   # one backward, keeping the graph: twice the same gradient
    g1 = torch.autograd.grad(f, list(net.parameters()), retain_graph=True)
    g2 = torch.autograd.grad(f, list(net.parameters()))
    for a, b in zip(g1, g2): assert torch.equal(a, b)
    ws = [psa_expectation(net, x[i:i + 1], y[i:i + 1]) for i in range(2)]   # the chunks' mean is the mean of one-example calls
    want = torch.autograd.grad((ws[0] + ws[1]) / 2, list(net.parameters()))
    for a, b in zip(g1, want): torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_psa_refuses_create_graph_on_a_conv_net():
    net, x, y = conv_net()
    torch.manual_seed(1); L = estimator('psa').surrogate(net, x, y)
    with pytest.raises(RuntimeError, match='psa: the gradient estimate of PSA'):
        torch.autograd.grad(L, list(net.parameters()), create_graph=True)
    torch.manual_seed(1); L.backward(retain_graph=True); L.backward()   # retain_graph still works


# 4. arm, disarm, ugc: draw(p) in index order (torch.rand of p's shape): a channels_last p draws as its contiguous copy

@pytest.mark.parametrize('name', ['arm', 'disarm', 'ugc'])
def test_per_layer_draw_ignores_channels_last(name):
    import sbn_estimators.unbiased, sbn_estimators.control_variates   # register them
    p = torch.rand(2, 3, 4, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = []
    for pp in (p, p.contiguous(memory_format=CL)):
        torch.manual_seed(3); out.append(estimator(name).draw(pp))
    for a, b in zip(*out): assert torch.equal(a, b)   # was: different states under the same seed
    torch.manual_seed(3); u = torch.rand_like(p)   # a contiguous p: the same numbers as before the fix
    if name == 'arm': assert torch.equal(out[0][1][0], u - 0.5)
