"""Review s44 (fix G): regressions of this session's argument checks against 17922ee. `Noise.mean` of an integer tensor is the
float mean again (not rounded to the input's integer dtype); `SBNMLP.forward` broadcasts one copy of params against leading
dimensions of x; `binomial_z` takes n as a whole float or a tensor of whole numbers; `save_sbn` writes a `torch.compile`d
SBNMLP; `SBNMLP.layer` takes a 0-d integer tensor k; `q.proxy = estimator('st')` is normalised as the constructor does it."""
import numpy as np, pytest, torch
from sbn_estimators.core import NOISES
from sbn_estimators.stats import binomial_z
from sbn_estimators.sbn import SBNMLP, save_sbn, load_sbn
from sbn_estimators.binaryduo import Quantize
from sbn_estimators.estimators import estimator


def fails(f, message):
    with pytest.raises(ValueError) as e: f()
    assert message in str(e.value), str(e.value)
    return str(e.value)


@pytest.mark.parametrize('noise', list(NOISES))
def test_noise_mean_of_integers_is_float(noise):
    for dtype in (torch.int64, torch.int32, torch.uint8):
        a = torch.tensor([0, 1, 3], dtype=dtype)
        m = NOISES[noise].mean(a)
        assert m.dtype == torch.float32, dtype   # what the logistic, uniform and triangular means gave before (normal gave -1s)
        torch.testing.assert_close(m, NOISES[noise].mean(a.float()))
        if noise == 'logistic': torch.testing.assert_close(m, torch.tanh(a.float() / 2))
    for dtype in (torch.float64, torch.float32, torch.float16, torch.bfloat16):   # a floating a keeps its dtype
        a = torch.tensor([0.01, 1., 3.], dtype=dtype)
        assert NOISES[noise].mean(a).dtype == dtype
        if noise == 'logistic': torch.testing.assert_close(NOISES[noise].mean(a), torch.tanh(a.double() / 2).to(dtype))


def test_forward_broadcasts_one_copy_of_params():
    torch.manual_seed(0)
    net = SBNMLP([3, 4, 5, 2], loss='cross_entropy')
    x = torch.randn(5, 7, 3, dtype=torch.float64)
    p1 = [tuple(t.detach()[None] for t in (l.weight, l.bias)) for l in net.layers]
    act = lambda a: torch.tanh(a)   # deterministic: compare with the network's own parameters
    out = net(x, activation=act, params=p1)
    assert out.shape == (5, 7, 2)
    torch.testing.assert_close(out, net(x, activation=act))
    fails(lambda: net(x, params=net.sample_params(2)), "params have 2 copies")   # mismatched copies are still refused
    assert net(x[:2], params=net.sample_params(2)).shape == (2, 7, 2)


def test_binomial_z_takes_whole_numbers_of_draws():
    for n in (torch.tensor([10, 100]), torch.tensor([10., 100.]), torch.tensor([10, 100], dtype=torch.int32), [10, 100]):
        z = binomial_z(torch.tensor([5., 50.]), n, 0.5)
        assert z.dtype == torch.float64 and torch.equal(z, torch.zeros(2, dtype=torch.float64)), n
        torch.testing.assert_close(binomial_z(torch.tensor([7., 70.]), n, 0.5),
                                   torch.tensor([2 / 10 ** 0.5 / 0.5, 20 / 100 ** 0.5 / 0.5], dtype=torch.float64))
    for n in (10.0, np.float64(10.), torch.tensor(10), torch.tensor(10.), 10, np.int64(10)):
        torch.testing.assert_close(binomial_z(torch.tensor(7.), n, 0.5), torch.tensor(2 / 10 ** 0.5 / 0.5, dtype=torch.float64))
    for n in (10.5, 0, -3, 0.0, float('nan'), float('inf'), True, torch.tensor([True, True]), torch.tensor([10, 0]),
              torch.tensor([10.5, 100.]), torch.tensor([10., float('nan')]), 'ten', None):   # still refused
        fails(lambda: binomial_z(torch.tensor([5., 5.]), n, 0.5), "n must be a positive integer, got ")
    fails(lambda: binomial_z(torch.tensor([5., 50.]), torch.tensor([10, 40]), 0.5), "count must be successes of its n draws, in 0..n, got 50")
    fails(lambda: binomial_z(torch.tensor([5., 11.]), 10.0, 0.5), "count must be successes of n = 10 draws, in 0..10, got 11")
    fails(lambda: binomial_z(torch.tensor([-1., 5.]), torch.tensor(10), 0.5), "got -1")
    fails(lambda: binomial_z(torch.tensor([5., 5.]), torch.tensor([10, 10, 10]), 0.5), "n: draws of shape [3] do not broadcast with count of shape [2]")


def test_save_sbn_writes_a_compiled_net(tmp_path):
    torch.manual_seed(0)
    net = SBNMLP([3, 4, 1])
    X = torch.randn(6, 3, dtype=torch.float64); Y = torch.randint(0, 2, (6, 1)).double() * 2 - 1
    path = save_sbn(tmp_path / 'net', torch.compile(net), X, Y)   # compiles nothing: save_sbn never calls the wrapper
    net2, X2, Y2 = load_sbn(path)
    for (k, a), b in zip(net.state_dict().items(), net2.state_dict().values()): assert torch.equal(a, b), k
    assert torch.equal(X2, X) and torch.equal(Y2, Y)
    fails(lambda: save_sbn(tmp_path / 'lin', torch.compile(torch.nn.Linear(3, 1)), X, Y), "got Linear")   # the wrapped model is checked


def test_layer_takes_integer_tensors():
    torch.manual_seed(0)
    net = SBNMLP([3, 4, 5, 2], loss='cross_entropy')
    h = torch.randn(7, 4, dtype=torch.float64)
    for k in (torch.tensor(1), torch.tensor(1, dtype=torch.uint8), torch.tensor(1, dtype=torch.int32), np.int64(1), 1):
        torch.testing.assert_close(net.layer(k, h), net.layer(1, h))
    for k in (True, torch.tensor(True), np.True_, 1.0, torch.tensor(0.), torch.tensor(2), -1, 2):   # still refused
        fails(lambda: net.layer(k, h), f"k must be the index of a binary layer, an integer in 0..1 (2 binary layers; the head is `head`), got {k!r}")


@pytest.mark.parametrize('spec', ['st', 'approx_sign', 'clipped_st'])
def test_quantize_proxy_assignment_is_normalised_as_the_constructor(spec):
    e = estimator(spec)
    q, ref = Quantize(1), Quantize(1, proxy=e)
    q.proxy = e   # st: was refused as sampling; all: kept uncopied, so changing e changed q
    assert q.proxy is not e and not q.proxy.stochastic and q.proxy.spec == ref.proxy.spec
    assert repr(q) == repr(ref)
    y = torch.linspace(-0.5, 1.5, 9, requires_grad=True)
    g1, = torch.autograd.grad(q(y).sum(), y); g2, = torch.autograd.grad(ref(y).sum(), y)
    assert torch.equal(g1, g2)
    q.proxy = None
    assert q.proxy is None
    for bad in ('zgr', 'concrete'):   # what the constructor refuses, assignment refuses with the same message
        def assign(): q.proxy = estimator(bad)
        msg = fails(assign, f"proxy {bad!r} samples (stochastic)")
        fails(lambda: Quantize(1, proxy=estimator(bad)), msg)
    assert q.proxy is None
