"Review s46, fix G2: ks_distance on NaN draws and bad CDFs, z_scores on subnormal coordinates (and tol=inf, complex samples), gradient_metrics on tiny exact gradients, cos_dataset keyword-only, get_data's unknown parameters, train_toy_sbn's 32-bit seed."
import inspect, math, re
import pytest, torch
from sbn_estimators import gradeval
from sbn_estimators.stats import z_scores, z_test, ks_distance, _pow2_scale
from sbn_estimators.gradeval import gradient_metrics, accuracy_curves, train_toy_sbn
from sbn_estimators.data import cos_dataset, get_data, digits_data
from sbn_estimators.sbn import SBNMLP
from sbn_estimators.exact import exact_loss

torch.set_num_threads(1)
f64 = dict(dtype=torch.float64)


# 1. ks_distance: a NaN or infinite draw fails the check (inf, as z_scores's NaN estimate); a cdf outside [0, 1] and a list are refused

@pytest.mark.parametrize('bad', [math.nan, math.inf, -math.inf])
def test_ks_distance_non_finite_draw_is_inf(bad):
    d = ks_distance(torch.tensor([0.1, 0.5, bad], **f64), lambda x: x.clamp(0, 1))
    assert d == math.inf
    assert max(0., d) == math.inf and max(d, 0.) == math.inf   # no ordering of a max drops it, as it dropped a NaN second

def test_ks_distance_refuses_cdf_outside_unit_interval():
    with pytest.raises(ValueError, match=re.escape('cdf must return probabilities in [0, 1], got 1 value(s) outside, the first 1.5 at the draw 0.15')):
        ks_distance(torch.tensor([0.05, 0.15], **f64), lambda x: x * 10)
    with pytest.raises(ValueError, match='cdf must return probabilities in'):
        ks_distance(torch.tensor([0.1, 0.2], **f64), lambda x: x * math.nan)
    with pytest.raises(ValueError, match=re.escape('cdf must map the 2 draws elementwise to 2 probabilities, got shape []')):
        ks_distance(torch.tensor([0.1, 0.2], **f64), lambda x: x.sum() / 2)

def test_ks_distance_rounding_past_one_is_accepted():
    u = torch.tensor([0.25, 0.75], **f64)   # a ratio CDF that rounds a hair past 1: clamped, same distance as the exact one
    assert ks_distance(u, lambda x: torch.where(x > 0.5, 1 + 4e-16, x)) == ks_distance(u, lambda x: torch.where(x > 0.5, 1., x))

def test_ks_distance_refuses_non_tensor():
    with pytest.raises(ValueError, match='samples must be a torch.Tensor, got list; convert with torch.as_tensor'):
        ks_distance([0.1, 0.2], lambda x: x)


# 2. z_scores on a subnormal coordinate: 0 for an exact estimator, not NaN; gradient_metrics's p_unbiased never turns a NaN into 1

def test_z_scores_subnormal_coordinate():
    g = torch.tensor([1.0, 2.2e-313], **f64)
    est = g.expand(4, 2).clone()
    assert z_scores(est, g).tolist() == [0., 0.]
    z, t, passed = z_test({'w': est}, {'w': g})
    assert z == 0 and passed
    m = gradient_metrics(est, g)
    assert m['z_max'] == 0 and m['p_unbiased'] == 1
    off = torch.tensor([[1e-310], [9e-310], [3e-310]], **f64)   # subnormal estimates, a hundredth of the target 5e-308: biased, found
    assert z_scores(off, torch.tensor([5e-308], **f64)).item() < -100

def test_pow2_scale_is_normal():
    s = _pow2_scale(torch.tensor([2.2e-313, 5e-324, 1e-300], **f64))
    assert (1 / s).isfinite().all() and s[0] == s[1] == 2.0 ** -1022 and s[2] == 2.0 ** math.frexp(1e-300)[1] / 2

def test_gradient_metrics_nan_z_fails(monkeypatch):
    monkeypatch.setattr(gradeval, 'z_scores', lambda s, t, tol=0.: torch.full(t.shape, math.nan, **f64))
    m = gradient_metrics(torch.tensor([[1., 2.], [2., 1.]], **f64), torch.tensor([1.5, 1.5], **f64))
    assert m['z_max'] == math.inf and m['p_unbiased'] == 0   # was z_max NaN and p_unbiased min(1., nan) = 1.0


# 3. gradient_metrics, accuracy_curves and _check_exact on an exact gradient far below the estimates

@pytest.mark.parametrize('c', [1e-150, 1e-161, 1e-170, 1e-250])
def test_gradient_metrics_tiny_exact(c):
    est = torch.tensor([[1., 1.], [2., 1.]], **f64)
    ex = torch.tensor([3., 4.], **f64) * c
    true = ((est - ex) ** 2).sum(1).mean().sqrt().item() / (5 * c)
    m = gradient_metrics(est, ex)
    assert abs(m['rel_rmse_1'] / true - 1) < 1e-12, (m['rel_rmse_1'], true)
    assert math.isfinite(m['rel_resolution']) and m['rel_resolution'] > 0
    assert abs(accuracy_curves(est, ex, Ms=[1])['rel_rmse'][0] / true - 1) < 1e-12

def test_norm_bit_identical_on_ordinary_vectors():
    from sbn_estimators.gradeval import _norm   # the helper the fix adds: ordinary inputs keep their numbers
    torch.manual_seed(0)
    for dt, scales in ((torch.float64, (1., 1e-30, 3e20, 0.7)), (torch.float32, (1., 1e-10, 3e10, 0.7))):
        for scale in scales:
            v = torch.randn(1000, dtype=dt) * scale
            assert _norm(v).item() == v.norm().item()
    assert _norm(torch.tensor([3e-170, 4e-170], **f64)).item() == pytest.approx(5e-170, rel=1e-15)
    assert _norm(torch.tensor([3e-30, 4e-30])).item() == pytest.approx(5e-30, rel=1e-6)   # float32: its squares underflow

def test_check_exact_takes_a_tiny_gradient():
    "/tmp/revC/repro_gm.py: a saturated first layer whose exact gradient (~1e-165) was refused as 'norm 0, rounding bound 0'."
    net = SBNMLP([2, 2, 1])
    with torch.no_grad():
        net.layers[0].weight.copy_(torch.tensor([[400., 0.], [0., -400.]])); net.layers[0].bias.zero_()
        net.layers[1].weight.copy_(torch.tensor([[1., 1.]]))
    X = torch.tensor([[1., 1.], [1., -1.]], **f64); Y = torch.tensor([[1.], [-1.]], **f64)
    torch.manual_seed(0)
    r = gradeval.gradient_report(net, X, Y, 'exact', samples=4, progress=False)
    g0 = torch.tensor(r['exact_grad']['layer-0'], **f64)
    assert 0 < g0.abs().max() < 1e-150
    assert all(g['rel_rmse_1'] == 0 and abs(g['cos_1'] - 1) < 1e-12 for g in r['estimators']['exact']['groups'])


# 4. z_scores refuses tol=inf and complex samples

def test_z_scores_refuses_inf_tol_and_complex():
    s, g = torch.randn(5, 2, **f64), torch.zeros(2, **f64)
    with pytest.raises(ValueError, match='tol must be finite, got inf'): z_scores(s, g, math.inf)
    with pytest.raises(ValueError, match='tol must be finite'): z_scores(s, g, torch.tensor(math.inf))
    with pytest.raises(ValueError, match=re.escape('samples must be real, got torch.complex128')): z_scores(s.to(torch.complex128), g)
    with pytest.raises(ValueError, match=re.escape('target must be real, got torch.complex64')): z_scores(s, g.to(torch.complex64))

def test_gradient_metrics_huge_estimates_few_samples():
    "A resolution beyond float64 (estimates near 1e308, S = 2) is not an error: nothing is testable, p = 1."
    m = gradient_metrics(torch.tensor([[1.5e308, 1.], [1.7e308, 1.]], **f64), torch.tensor([1e308, 1.], **f64))
    assert m['z_max'] == 0 and m['p_unbiased'] == 1


# 6. cos_dataset takes keyword arguments only (cos_data takes (n_per_class, seed))

def test_cos_dataset_keyword_only():
    with pytest.raises(TypeError, match='positional'): cos_dataset(50)
    assert all(p.kind == p.KEYWORD_ONLY for p in inspect.signature(cos_dataset).parameters.values())
    assert len(cos_dataset(n_per_class=50, val=0).splits['train'][1]) == 100
    assert len(get_data('cos', seed=3, n_per_class=10, val=4).splits['val'][1]) == 4   # the registry passes keywords


# 7. get_data refuses a parameter its loader does not take, listing the valid ones

def test_get_data_unknown_parameter():
    with pytest.raises(ValueError, match=re.escape("dataset 'digits' has no parameter bogus; valid parameters: seed, val=0.1, test_frac=0.2")):
        get_data('digits', bogus=1)
    with pytest.raises(ValueError, match=re.escape("dataset 'cos' has no parameter n, x; valid parameters: seed, n_per_class=500, val=0.1")):
        get_data('cos', x=1, n=3)
    assert get_data('digits', val=0.2).name == 'digits'


# 8. train_toy_sbn: seeds beyond 32 bits would repeat smaller ones (the batch order's CPU generator)

@pytest.mark.parametrize('seed', [2**32, 3 + 2**32, 2**64 - 1, -1, 1.5, True])
def test_train_toy_sbn_seed_range(seed):
    with pytest.raises(ValueError, match=re.escape(f"seed must be an integer in 0..{2**32 - 1}, got {seed!r} (a CPU generator reads only a seed's low 32 bits")):
        train_toy_sbn(epochs=0, seed=seed)

def test_train_toy_sbn_largest_seed():
    net, X, Y = train_toy_sbn(epochs=1, seed=2**32 - 1)
    assert math.isfinite(exact_loss(net, X, Y).item())
