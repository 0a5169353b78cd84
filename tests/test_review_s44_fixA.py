"""Review s44 (fix A): save_sbn writes bfloat16 networks and data and refuses models other than SBNMLP; load_sbn reads
big-endian and long-double arrays; exact_loss sizes its memory check for autograd through x; Noise.mean is computed in
float32 for 16-bit inputs; the statistics helpers refuse empty groups, counts outside 0..n and reach every alpha of
ks_threshold; sbn_from_01 refuses items that are not real (W, b) pairs; SBNMLP.layer checks k and forward checks x against
the parameter copies; init_sbn_ names the dtype's resolution when the rows' spread is below it."""
import math
import numpy as np, pytest, torch
from sbn_estimators.core import NOISES, logistic_loss
from sbn_estimators.sbn import SBNMLP, save_sbn, load_sbn, sbn_from_01, init_sbn_, cos_data
from sbn_estimators.sbn_conv import SBNConvNet
from sbn_estimators.exact import exact_loss, exact_memory
from sbn_estimators.stats import z_test, z_scores, max_z, resolution, binomial_z, ks_threshold, _kolmogorov_tail
from sbn_estimators.estimators import estimator


def fails(f, message):
    with pytest.raises(ValueError) as e: f()
    assert message in str(e.value), str(e.value)


@pytest.fixture
def toy():
    torch.manual_seed(0)
    X, Y = cos_data(8)
    return SBNMLP([2, 3, 1]), X, Y


# ---- 1. bfloat16 networks and data

def test_save_sbn_bfloat16(tmp_path, toy):
    net, X, Y = toy
    nb = SBNMLP([2, 3, 1], dtype=torch.bfloat16)
    save_sbn(tmp_path / 'b', nb, X.bfloat16(), Y.bfloat16())          # was: TypeError Got unsupported ScalarType BFloat16
    net2, X2, Y2 = load_sbn(tmp_path / 'b.npz', dtype=torch.bfloat16)
    assert torch.equal(X2, X.bfloat16()) and torch.equal(Y2, Y.bfloat16())
    for p, q in zip(nb.parameters(), net2.parameters()): assert torch.equal(p, q)   # bfloat16 -> float32 -> bfloat16 is exact
    save_sbn(tmp_path / 'y', net, X, Y.bfloat16())                    # a float64 net with bfloat16 targets
    assert torch.equal(load_sbn(tmp_path / 'y.npz')[2], Y)


# ---- 2. only SBNMLP fits the format

def test_save_sbn_refuses_other_models(tmp_path, toy):
    _, X, Y = toy
    conv = SBNConvNet((1, 2, 1), [(2, 1, 1, 0)], 1, loss='logistic', dtype=torch.float64)
    fails(lambda: save_sbn(tmp_path / 'c', conv, X, Y), "net: the network format holds an SBNMLP")
    fails(lambda: save_sbn(tmp_path / 'c', conv, X, Y), "got SBNConvNet")
    assert not (tmp_path / 'c.npz').exists()
    class Fake: pass
    fake = Fake(); fake.noise, fake.loss, fake.loss_name = NOISES['logistic'], logistic_loss, 'logistic'
    fails(lambda: save_sbn(tmp_path / 'f', fake, X, Y), "got Fake")   # was: AttributeError 'layers'


# ---- 3. big-endian and long-double arrays

def _arrays(net, X, Y):
    d = {'X': X.numpy(), 'Y': Y.numpy()}
    for k, l in enumerate(net.layers): d[f'W{k}'], d[f'b{k}'] = l.weight.detach().numpy(), l.bias.detach().numpy()
    return d

@pytest.mark.parametrize('kind', ['>f8', '>f4', np.longdouble])
def test_load_sbn_byte_order_and_long_double(tmp_path, toy, kind):
    net, X, Y = toy
    d = {k: v.astype(kind) for k, v in _arrays(net, X, Y).items()}
    d['Y'] = Y.numpy().astype('>i8')
    np.savez(tmp_path / 'n.npz', **d)
    net2, X2, Y2 = load_sbn(tmp_path / 'n.npz')
    assert torch.equal(X2, torch.as_tensor(X.numpy().astype(kind).astype(np.float64))) and torch.equal(Y2, Y)
    for p, q in zip(net.parameters(), net2.parameters()):
        assert torch.equal(q.detach(), torch.as_tensor(p.detach().numpy().astype(kind).astype(np.float64)))

def test_load_sbn_long_double_overflow(tmp_path, toy):
    net, X, Y = toy
    d = _arrays(net, X, Y)
    d['W1'] = d['W1'].astype(np.longdouble); d['W1'][0, 0] = np.longdouble('1e400')
    if not np.isfinite(d['W1']).all(): pytest.skip("long double is float64 on this machine")
    np.savez(tmp_path / 'big.npz', **d)
    fails(lambda: load_sbn(tmp_path / 'big.npz'), "big.npz: array W1 has 1 float128 value(s) that overflow float64")

def test_gradeval_cli_long_double_one_line(tmp_path, toy, monkeypatch, capsys):
    from sbn_estimators.gradeval import gradeval_cli
    net, X, Y = toy
    d = _arrays(net, X, Y); d['X'] = d['X'].astype(np.longdouble)
    d['X'][0, 0] = np.longdouble('1e400') if np.finfo(np.longdouble).max > 1e400 else np.inf
    np.savez(tmp_path / 'ld.npz', **d)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e: gradeval_cli(['ld.npz', '--samples', '4', '--no-progress'])   # was: TypeError traceback, exit 1
    err = capsys.readouterr().err.splitlines()
    assert e.value.code == 2 and len(err) == 1 and 'ld.npz' in err[0] and 'X' in err[0], err


# ---- 4. exact_loss: autograd through x needs the larger memory estimate

def test_exact_loss_grad_through_x_memory(toy):
    net = SBNMLP([2, 8, 8, 1]).requires_grad_(False)
    X, Y = cos_data(50)
    no_grad = exact_memory(net, len(X), grad=False)
    assert exact_memory(net, len(X), grad=True) > 1.5 * no_grad
    exact_loss(net, X, Y, max_bytes=no_grad)                          # nothing requires grad: the smaller estimate
    fails(lambda: exact_loss(net, X.clone().requires_grad_(), Y, max_bytes=no_grad), "with gradients need about")
    with torch.no_grad(): exact_loss(net, X.clone().requires_grad_(), Y, max_bytes=no_grad)   # no graph under no_grad
    x = X.clone().requires_grad_()
    exact_loss(net, x, Y).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


# ---- 5. Noise.mean in float32 for 16-bit inputs

@pytest.mark.parametrize('noise', list(NOISES))
@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_noise_mean_16bit(noise, dtype):
    n = NOISES[noise]
    a = torch.tensor([0.01, -0.02, 0.3, -0.7, 0.99], dtype=dtype)
    m, ref = n.mean(a), n.mean(a.double())
    assert m.dtype == dtype
    assert ((m.double() - ref).abs() <= torch.finfo(dtype).eps * ref.abs()).all(), (m, ref)   # one rounding of the result
    if noise == 'logistic' and dtype == torch.bfloat16: assert abs(m[0].item() - 0.005) < 1e-4   # was 0.0078

def test_mean_field_proxy_16bit():
    a = torch.tensor([0.01, 0.5, -2.], dtype=torch.bfloat16, requires_grad=True)
    out = estimator('mean_field')(a)
    assert out.dtype == torch.bfloat16 and abs(out[0].item() - 0.005) < 1e-4
    out.sum().backward()
    assert a.grad.dtype == torch.bfloat16 and torch.isfinite(a.grad).all()


# ---- 6. empty groups

def test_empty_group():
    fails(lambda: z_test({'a': torch.randn(10, 0)}, {'a': torch.zeros(0)}), "samples['a'] must be [S, d] with d >= 1")
    fails(lambda: z_test({'a': torch.randn(10, 2), 'b': torch.randn(10, 0)}, {'a': torch.zeros(2), 'b': torch.zeros(0)}), "samples['b']")
    for f in (max_z, z_scores, resolution):
        fails(lambda: f(torch.randn(10, 0), torch.zeros(0)), "samples must be [S, d] with d >= 1")
    fails(lambda: z_test({'a': torch.randn(10, 2)}, {'a': torch.zeros(3)}), "target['a'] must have shape [2]")


# ---- 7. binomial_z checks n and the counts

def test_binomial_z_checks():
    for bad in (0, -3, 2.5, True):
        fails(lambda: binomial_z(torch.tensor(5.), bad, 0.5), f"n must be a positive integer, got {bad!r}")
    fails(lambda: binomial_z(torch.tensor([5., 11.]), 10, 0.5), "count must be successes of n = 10 draws, in 0..10, got 11")
    fails(lambda: binomial_z(torch.tensor(-1.), 10, 0.5), "got -1")
    fails(lambda: binomial_z(torch.tensor(math.nan), 10, 0.5), "got nan")
    assert binomial_z(torch.tensor(10.), 10, 0.5).item() == pytest.approx(math.sqrt(10))


# ---- 8. ks_threshold reaches every alpha

def test_ks_threshold_all_alpha():
    for m, alpha in ((1, 0.99), (1, 0.97), (1, 0.9), (3, 0.99), (1, 0.5), (2, 1e-3), (1, 1e-120)):
        t = ks_threshold(m, alpha)
        assert m * _kolmogorov_tail(t) == pytest.approx(alpha, rel=1e-9), (m, alpha, t)   # was 0.5 for (1, 0.99): Q = 0.964
    ts = [ks_threshold(1, a) for a in (0.999, 0.99, 0.9, 0.5, 0.1)]
    assert ts == sorted(ts) and ts[0] > 0
    assert _kolmogorov_tail(0.05) == pytest.approx(1.) and _kolmogorov_tail(0.) == 1.
    for t in (0.3, 0.6, 0.99):   # the two series agree where both converge
        assert _kolmogorov_tail(t) == pytest.approx(2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * t * t) for k in range(1, 2001)), abs=1e-12)


# ---- 9. sbn_from_01 items

def test_sbn_from_01_pairs():
    W, b, V, c = torch.randn(3, 2), torch.randn(3), torch.randn(1, 3), torch.randn(1)
    fails(lambda: sbn_from_01([W, b]), "weights[0]: expected a (W, b) pair, got a tensor of shape [3, 2]")
    fails(lambda: sbn_from_01([(W, b, b), (V, c)]), "weights[0]: expected a (W, b) pair, got 3 items")
    fails(lambda: sbn_from_01([(W, b), 'Vc']), "weights[1]: expected a (W, b) pair, got str")
    fails(lambda: sbn_from_01([(W.to(torch.complex64), b), (V, c)]), "weights[0]: W of layer 0 must be real, got torch.complex64")
    fails(lambda: sbn_from_01([(W, b), (V, c.to(torch.complex128))]), "weights[1]: b of layer 1 must be real")
    assert sbn_from_01([[W, b], (V, c)]).sizes == [2, 3, 1]


# ---- 10. SBNMLP.layer's k and forward's copies

def test_layer_index():
    net = SBNMLP([2, 3, 4, 1])
    h = torch.randn(5, 3, dtype=torch.float64)
    assert net.layer(1, h).shape == (5, 4) and net.layer(np.int64(1), h).shape == (5, 4)
    for bad in (-1, 2, 5, True, 1.0):
        fails(lambda: net.layer(bad, h), f"k must be the index of a binary layer, an integer in 0..1 (2 binary layers; the head is `head`), got {bad!r}")

def test_forward_copies(toy):
    net, X, Y = toy
    P = net.sample_params(4)
    fails(lambda: net(X.expand(3, *X.shape), params=P), "x: inputs have leading dimensions [3] but params have 4 copies")
    assert net(X, params=P).shape == (4, len(X), 1)
    assert net(X.expand(4, *X.shape), params=P).shape == (4, len(X), 1)
    assert net(X.expand(1, *X.shape), params=P).shape == (4, len(X), 1)
    assert net(X.expand(2, 4, *X.shape), params=P).shape == (2, 4, len(X), 1)
    assert net(X.expand(3, *X.shape)).shape == (3, len(X), 1)          # no copies: any leading dimensions


# ---- 12. init_sbn_ names the dtype's resolution

def test_init_sbn_resolution_message():
    Xh = torch.tensor([[1., 1.], [1.001, 1.]], dtype=torch.float16)   # distinct rows, closer than a float16 network resolves
    assert not torch.equal(Xh[0], Xh[1])
    fails(lambda: init_sbn_(SBNMLP([2, 3, 1], dtype=torch.float16), Xh), "the resolution of the network's torch.float16")
    fails(lambda: init_sbn_(SBNMLP([2, 3, 1], dtype=torch.float16), Xh), "or a network of a wider dtype")
