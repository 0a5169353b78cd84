"""Property tests (hypothesis, derandomized): the four noises against mpmath, `exact_loss` against a brute-force enumeration,
the local estimators' forward values and closed-form slopes, scale/permutation invariance of the stats helpers, and
ValueErrors at the public boundary. Adapted from a reviewer's fuzzing; tolerances are multiples of the dtype's eps
scaled by the condition number of the function checked (and by the number of terms summed)."""
import itertools, math
import mpmath, pytest, torch
from hypothesis import HealthCheck, given, settings, strategies as st
import sbn_estimators as s
from sbn_estimators.core import NOISES
from sbn_estimators.exact import exact_loss
from sbn_estimators.gradeval import gradient_metrics
from sbn_estimators.gumbel_family import GumbelRao
from sbn_estimators.sbn import SBNMLP
from sbn_estimators.stats import z_scores

torch.set_num_threads(1)
mpmath.mp.dps = 40


def fuzz(n):
    "Deterministic: the same n examples on every run (derandomize), no deadline."
    return settings(derandomize=True, deadline=None, max_examples=n, suppress_health_check=[HealthCheck.too_slow], database=None)


FLOATS = {torch.float64: torch.finfo(torch.float64), torch.float32: torch.finfo(torch.float32)}
NAMES = st.sampled_from(sorted(NOISES))
DTYPES = st.sampled_from([torch.float64, torch.float32])

# ---------------------------------------------------------------------------------------------------------------------------
# 1. noises: cdf, pdf, log_cdf, mean against mpmath; symmetry; pdf = dF/da by autograd

def ref_cdf(name, a):
    a = mpmath.mpf(a)
    if name == 'logistic': return 1 / (1 + mpmath.exp(-a))
    if name == 'normal': return mpmath.ncdf(a)
    if name == 'uniform': return min(max((a + 1) / 2, mpmath.mpf(0)), mpmath.mpf(1))
    c = min(max(a, mpmath.mpf(-1)), mpmath.mpf(1))
    return (1 + c) ** 2 / 2 if c < 0 else 1 - (1 - c) ** 2 / 2


def ref_pdf(name, a):
    a = mpmath.mpf(a)
    if name == 'logistic': e = mpmath.exp(-abs(a)); return e / (1 + e) ** 2
    if name == 'normal': return mpmath.npdf(a)
    if name == 'uniform': return mpmath.mpf(0.5) if abs(a) <= 1 else mpmath.mpf(0)
    return max(1 - abs(a), mpmath.mpf(0))


def ref_mean(name, a):
    "2F(a) - 1 without its cancellation near a = 0."
    a = mpmath.mpf(a)
    if name == 'logistic': return mpmath.tanh(a / 2)
    if name == 'normal': return mpmath.erf(a / mpmath.sqrt(2))
    c = min(max(a, mpmath.mpf(-1)), mpmath.mpf(1))
    if name == 'uniform': return c
    return c * (2 - abs(c))


def pdf_cond(name, a):
    "Relative condition number |a f'(a)/f(a)| of the density at a (a rounding of a's scale in the kernel costs this many eps)."
    a = abs(a)
    if name == 'logistic': return a * math.tanh(a / 2)
    if name == 'normal': return a * a
    if name == 'uniform': return 0.
    return a / (1 - a) if a < 1 else 0.


def cdf_cond(name, a):
    "|a f(a)/F(a)|, bounded by 1 + a^2 where F(a) underflows (the normal tail: a f/F ~ a^2)."
    F = ref_cdf(name, a)
    return float(abs(a) * ref_pdf(name, a) / F) if F > 0 else 1 + a * a


def check(got, ref, dt, cond, what):
    "|got - ref| <= (8 + cond) eps |ref|, plus 4 tiny where ref is below the normal range (subnormal or flushed results)."
    fi = FLOATS[dt]
    got, ref = float(got), float(ref)
    tol = (8 + cond) * fi.eps * abs(ref) + 4 * fi.tiny
    assert abs(got - ref) <= tol, (what, dt, got, ref, tol)


EXTREMES = [0., -0., 1., -1., 0.5, -0.5, 1 - 2 ** -24, -1 + 2 ** -24, 2 ** -30, -2 ** -30, 1e-300, -1e-300,
            8., -8., 17.5, -17.5, 38., -38., 88., -88., 104., -104., 700., -700., 1e4, -1e4, 3e38, -3e38]
POINTS = st.floats(-50, 50) | st.floats(-1e4, 1e4) | st.sampled_from(EXTREMES)


@fuzz(300)
@given(NAMES, DTYPES, POINTS)
def test_noise_functions_match_mpmath(name, dt, a):
    n = NOISES[name]
    t = torch.tensor(a, dtype=dt)
    a = t.double().item()   # the value the dtype holds: exact input, the reference computed at it
    F, f = ref_cdf(name, a), ref_pdf(name, a)
    cond = cdf_cond(name, a)
    for fn in (n.cdf, n.pdf, n.log_cdf, n.mean): assert fn(t).dtype == dt
    check(n.cdf(t), F, dt, cond, 'cdf')
    check(n.pdf(t), f, dt, pdf_cond(name, a), 'pdf')
    lc = n.log_cdf(t).item()
    if F == 0 or mpmath.log(F) < -FLOATS[dt].max: assert lc == -math.inf   # log F beyond the dtype's range
    else:   # an absolute error of log F is F's relative error; plus the rounding of log F itself
        lr = float(mpmath.log(F))
        assert abs(lc - lr) <= (8 + cond) * FLOATS[dt].eps * (1 + abs(lr)), ('log_cdf', name, dt, a, lc, lr)
    m = ref_mean(name, a)
    mcond = float(abs(a) * 2 * f / abs(m)) if m != 0 else 0.
    check(n.mean(t), m, dt, mcond, 'mean')


@fuzz(200)
@given(NAMES, DTYPES, POINTS)
def test_noise_symmetry_and_pdf_is_dF_da(name, dt, a):
    n = NOISES[name]
    t = torch.tensor(a, dtype=dt, requires_grad=True)
    a = t.detach().double().item()
    eps = FLOATS[dt].eps
    F, Fm = n.cdf(t), n.cdf(-t)
    assert abs(F.double().item() + Fm.double().item() - 1) <= 4 * eps   # F(a) + F(-a) = 1
    assert n.pdf(t.detach()).item() == n.pdf(-t.detach()).item()   # an even density, bit for bit
    assert n.mean(-t.detach()).item() == -n.mean(t.detach()).item()   # an odd mean
    g, = torch.autograd.grad(F, t)
    if name in ('uniform', 'triangular') and abs(a) in (0., 1.): return   # kinks: one-sided derivatives differ
    # + 8: the backward's own roundings; the logistic cdf is torch.sigmoid, whose backward s(1 - s) rounds 1 - s to eps/2 on a
    # scale of 1: a relative error e^|a| eps of the density s(1 - s) ~ e^-|a|
    extra = math.exp(min(abs(a), 700.)) if name == 'logistic' else 0.
    check(g, ref_pdf(name, a), dt, pdf_cond(name, a) + 8 + extra, 'dF/da')


# ---------------------------------------------------------------------------------------------------------------------------
# 2. exact_loss against an independent brute force over every joint state

def brute(Ws, bs, x, y, noise, loss):
    "Expected loss by looping over every joint state of the binary units, float64; also max |a| and the number of states."
    n = NOISES[noise]
    widths = [W.shape[0] for W in Ws[:-1]]
    tot, amax, emax, count = torch.zeros((), dtype=torch.float64), 0., 0., 0
    for i in range(x.shape[0]):
        for states in itertools.product(*[list(itertools.product([-1., 1.], repeat=w)) for w in widths]):
            h, p = x[i], torch.ones((), dtype=torch.float64)
            for k, sk in enumerate(states):
                a = Ws[k] @ h + bs[k]
                amax = max(amax, a.detach().abs().max().item())
                sk = torch.tensor(sk, dtype=torch.float64)
                p = p * torch.where(sk > 0, n.cdf(a), n.cdf(-a)).prod()
                h = sk
            eta = Ws[-1] @ h + bs[-1]
            emax = max(emax, eta.detach().abs().max().item())
            if loss == 'logistic': z = -y[i] * eta   # log(1 + e^z) (torch's softplus is z itself from z > 20: an error of e^-20)
            else: d = eta - eta[y[i]]; z = torch.cat([d[:y[i]], d[y[i] + 1:]]).logsumexp(0, keepdim=True)   # not log_softmax: it cancels for a small loss
            l = torch.logaddexp(torch.zeros_like(z), z).sum()
            tot, count = tot + p * l, count + 1
    return tot / x.shape[0], amax, emax, count


@st.composite
def nets(draw):
    depth = draw(st.integers(1, 3))
    widths = [draw(st.integers(1, 4)) for _ in range(depth)]
    if sum(widths) > 8: widths = widths[:1]   # 2^8 joint states at most: fast
    loss = draw(st.sampled_from(['logistic', 'cross_entropy']))
    sizes = [draw(st.integers(1, 3)), *widths, draw(st.integers(2 if loss == 'cross_entropy' else 1, 3))]
    return sizes, draw(NAMES), loss, draw(st.sampled_from([0.1, 1.0, 5.0, 30.0])), draw(st.integers(1, 2)), draw(st.integers(0, 2 ** 31))


@fuzz(60)
@given(nets())
def test_exact_loss_matches_brute_force(cfg):
    sizes, noise, loss, scale, B, seed = cfg
    g = torch.Generator().manual_seed(seed)
    net = SBNMLP(sizes, noise=noise, loss=loss)
    with torch.no_grad():
        for l in net.layers:
            l.weight.copy_(scale * torch.randn(l.weight.shape, generator=g, dtype=torch.float64))
            l.bias.copy_(scale * torch.randn(l.bias.shape, generator=g, dtype=torch.float64))
    x = torch.randn(B, sizes[0], generator=g, dtype=torch.float64)
    y = torch.randint(0, 2, (B, sizes[-1]), generator=g).double() * 2 - 1 if loss == 'logistic' else torch.randint(0, sizes[-1], (B,), generator=g)
    ps = [p for l in net.layers for p in (l.weight, l.bias)]
    E = exact_loss(net, x, y)
    R, amax, emax, count = brute([l.weight for l in net.layers], [l.bias for l in net.layers], x, y, noise, loss)
    # a sum of `count` nonnegative terms p*l, each a product of sum(widths) probabilities whose relative error is (8 + cond) eps,
    # cond <= 1 + a^2 (the normal tail's a f/F ~ a^2); the summation adds count eps
    eps = torch.finfo(torch.float64).eps
    # (and exact_loss's log-softmax is exact to eps on the logits' scale emax, not relative to a small loss)
    rel = eps * (count + sum(sizes[1:]) * (8 + 1 + amax ** 2))
    atol = 8 * eps * (1 + emax) + 4 * torch.finfo(torch.float64).tiny
    assert torch.isfinite(E) and abs(E.item() - R.item()) <= rel * R.item() + atol, (cfg, E.item(), R.item())
    gE, gR = torch.autograd.grad(E, ps), torch.autograd.grad(R, ps)
    # a gradient coordinate sums signed terms: its error is relative to the largest coordinate (one more condition number a)
    top = max(t.abs().max().item() for t in gR)
    for a, b in zip(gE, gR):
        assert (a - b).abs().max().item() <= rel * (1 + amax) * (top + R.item()) + atol * (1 + amax), (cfg, a, b)


# ---------------------------------------------------------------------------------------------------------------------------
# 3. local estimators: forward in {-1, +1} (mean_field: in [-1, 1], the mean), backward the closed-form slope

def m_sig(z): return 1 / (1 + mpmath.exp(-mpmath.mpf(z)))
def m_sigp(z): return m_sig(z) * m_sig(-z)


def st_slope(noise, a): return 2 * ref_pdf(noise, a)


def reste_slope(p, a):
    o, t, m = p['o'], p['t'], p['m']
    z = abs(mpmath.mpf(a))
    if z <= m: return mpmath.mpf(m) ** (1 / mpmath.mpf(o)) / m
    if z <= t: return z ** ((1 - mpmath.mpf(o)) / o) / o
    return mpmath.mpf(0)


def swish_slope(beta, a):
    x = mpmath.mpf(beta) * a
    if abs(x) > 1e4: return mpmath.mpf(0)
    return beta * 2 * m_sigp(x) * (2 - x * mpmath.tanh(x / 2))


FAMILIES = {   # name: strategy of (constructor parameters, slope(a, x), condition number of the slope at a)
    'st': st.builds(lambda nz: ({'noise': nz}, lambda a, x: st_slope(nz, a), lambda a: pdf_cond(nz, a)), NAMES),
    'mean_field': st.builds(lambda nz: ({'noise': nz}, lambda a, x: st_slope(nz, a), lambda a: pdf_cond(nz, a)), NAMES),
    'identity_st': st.just(({}, lambda a, x: 1, lambda a: 0.)),
    'clipped_st': st.builds(lambda th: ({'threshold': th}, lambda a, x: 1. if abs(a) <= th else 0., lambda a: 0.), st.floats(1e-3, 1e3)),
    'approx_sign': st.just(({}, lambda a, x: max(2 - 2 * abs(a), 0.), lambda a: abs(a) / max(1 - abs(a), 1e-300))),
    'swish_sign': st.builds(lambda b: ({'beta': b}, lambda a, x: swish_slope(b, a), lambda a: 2 + 2 * (b * a) ** 2), st.floats(1e-2, 1e2)),
    'reste': st.builds(lambda o, t, f: ({'o': o, 't': t, 'm': t * f}, lambda a, x: reste_slope({'o': o, 't': t, 'm': t * f}, a), lambda a: 1 + 1 / o),
                       st.floats(1, 10), st.floats(0.01, 10), st.floats(0.01, 0.99)),
    'gst': st.builds(lambda tau, gap: ({'tau': tau, 'gap': gap}, lambda a, x: 2 * m_sigp(max(x * a, gap) / tau) / tau,
                                       lambda a: 2 + 2 * (abs(a) + gap) / tau), st.sampled_from([0.05, 0.5, 1.0, 3.0]), st.sampled_from([0.0, 1.0])),
    'reinmax': st.builds(lambda tau: ({'tau': tau}, lambda a, x: ((x > 0) + m_sig(a / tau)) * ((x < 0) + m_sig(-a / tau)) - m_sigp(a),
                                      lambda a: 2 + 2 * abs(a) / tau + 2 * abs(a)), st.sampled_from([0.5, 1.0, 3.0])),   # sigma at a/tau and at a
    'ede': st.builds(lambda t: ({'t': t}, lambda a, x: max(1 / t, 1) * t * 4 * m_sigp(2 * t * a), lambda a: 2 + 4 * abs(t * a)),
                     st.sampled_from([0.1, 1.0, 10.0, 300.0])),
}
TAILS = [0., -0., 1., -1., 0.5, 9., -12., 18., -18., 20., -40., 88., -104.]   # every example: float32's tails (s(1 - s) cancelled from |a| = 17)
SLOPE_POINTS = st.lists(st.floats(-60, 60) | st.floats(-1e3, 1e3) | st.sampled_from([0., -0., 1., -1., 1.5, 0.1, -0.1, 20., -20., 88., -88.]),
                        min_size=1, max_size=6)


def make(name, p, det):
    kw = {k: v for k, v in p.items() if not (name == 'ede' and k == 't')}
    if name not in ('mean_field', 'gst', 'reinmax'): kw['deterministic'] = det
    e = s.estimator(name, **kw)
    if name == 'ede': e.t_max = max(e.t_max, p['t']); e.set_t(p['t'])
    return e


@pytest.mark.parametrize('name', sorted(FAMILIES))
@fuzz(40)
@given(data=st.data(), dt=DTYPES, xs=SLOPE_POINTS, det=st.booleans(), seed=st.integers(0, 2 ** 31))
def test_local_estimator_forward_and_closed_form_slope(name, data, dt, xs, det, seed):
    p, slope, cond = data.draw(FAMILIES[name])
    xs = xs + TAILS
    torch.manual_seed(seed)
    e = make(name, p, det)
    a = torch.tensor(xs, dtype=dt, requires_grad=True)
    y = e(a)
    assert y.dtype == dt and y.shape == a.shape
    yd = y.detach()
    if name == 'mean_field':
        assert torch.equal(yd, NOISES[p['noise']].mean(a.detach()))   # the mean 2F(a) - 1, in [-1, 1]
    else:
        assert ((yd == 1) | (yd == -1)).all(), (name, p, y)
        if det and name not in ('gst', 'reinmax'): assert torch.equal(yd, torch.where(a.detach() < 0, -1., 1.).to(dt))
    g, = torch.autograd.grad(y.sum(), a)
    assert g.dtype == dt
    eps = FLOATS[dt].eps
    for ai, xi, gi in zip(a.detach().double().tolist(), yd.double().tolist(), g.double().tolist()):
        r = slope(ai, xi)
        peak = slope(0., 1.) if name != 'gst' else 2 / p['tau']   # the slope's scale: below tiny * peak, flushed results are fine
        # ReinMax's value is a difference of two terms: its error is relative to their sum
        scale = abs(float(r)) if name != 'reinmax' else float(abs(r) + 2 * m_sigp(ai))
        # a factor below the normal range (tiny) flushes: times what multiplies it (swish: sigma(-ba) times 2 beta (2 - ba tanh(ba/2)))
        amp = 2 * p['beta'] * (2 + abs(p['beta'] * ai)) if name == 'swish_sign' else float(peak)
        tol = (8 + cond(ai)) * eps * scale + 4 * FLOATS[dt].tiny * max(1., amp)
        edges = [torch.tensor(v, dtype=dt).item() for v in (p.get('threshold'), p.get('t'), p.get('m')) if v is not None]
        if name in ('clipped_st', 'reste') and abs(ai) in edges: continue   # at a boundary (rounded to dt): either side's value
        assert abs(gi - float(r)) <= tol, (name, p, dt, ai, xi, gi, float(r), tol)


@fuzz(60)
@given(DTYPES, st.sampled_from([0.5, 1.0, 3.0]), st.lists(st.floats(-60, 60), min_size=1, max_size=4), st.integers(0, 2 ** 31))
def test_gumbel_rao_slope_is_the_average_relaxed_slope(dt, tau, xs, seed):
    "GumbelRao's backward, with its k conditional noises fixed, is (1/k) sum_j (2/tau) sigma'((a - Z_j)/tau); forward in {-1, +1}."
    g = torch.Generator().manual_seed(seed)
    Z = 30 * torch.randn(3, len(xs), generator=g, dtype=torch.float64)
    class Fixed(GumbelRao):
        def noise_given(self, a, x): return Z.to(torch.promote_types(a.dtype, torch.float32)).clone()
    torch.manual_seed(seed)
    e = Fixed(tau=tau, k=3)
    a = torch.tensor(xs, dtype=dt, requires_grad=True)
    y = e(a)
    assert ((y.detach() == 1) | (y.detach() == -1)).all()
    gr, = torch.autograd.grad(y.sum(), a)
    eps, tiny = FLOATS[dt].eps, FLOATS[dt].tiny
    for j, ai in enumerate(a.detach().double().tolist()):
        zj = [Z[i, j].to(dt).double().item() for i in range(3)]
        r = sum(2 * m_sigp((ai - z) / tau) / tau for z in zj) / 3
        cond = 8 + 2 * max(abs(ai - z) / tau for z in zj)   # a - Z rounds in dt: sigma' at w has condition |w|
        assert abs(gr[j].double().item() - float(r)) <= cond * eps * float(r) + 8 * tiny / tau, (dt, tau, ai, zj, gr[j].item(), float(r))


# ---------------------------------------------------------------------------------------------------------------------------
# 4. stats helpers: exact invariance under power-of-two scaling and permutations (dyadic data: every sum is exact)

@st.composite
def dyadic(draw):
    "S in {2, 4, 8} estimates of d coordinates, multiples of 1/8 below 64: means and squared deviations are exact in float64."
    S, d = draw(st.sampled_from([2, 4, 8])), draw(st.integers(1, 4))
    v = st.integers(-512, 512)
    est = torch.tensor([[draw(v) for _ in range(d)] for _ in range(S)], dtype=torch.float64) / 8
    ex = torch.tensor([draw(v) for _ in range(d)], dtype=torch.float64) / 8
    if ex.abs().max() == 0: ex[0] = 1.
    return est, ex


KEYS = ['rel_rmse_1', 'rel_bias', 'rel_std', 'cos_1', 'z_max', 'p_unbiased', 'rel_resolution', 'unresolved']


def same(x, y):
    return x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y))


@fuzz(100)
@given(dyadic(), st.sampled_from([-1060, -1000, -600, -1, 1, 600, 1000, 1010]), st.booleans(), st.integers(0, 2 ** 31))
def test_stats_invariant_under_power_of_two_scaling_and_permutation(data, k, sto, seed):
    est, ex = data
    c = 2.0 ** k
    z = z_scores(est, ex)
    assert all(same(u, v) for u, v in zip(z.tolist(), z_scores(c * est, c * ex).tolist())), (k, z)
    assert all(same(u, -v) for u, v in zip(z.tolist(), z_scores(-c * est, -c * ex).tolist()))   # a sign flip flips z
    m = gradient_metrics(est, ex, sto)
    mc = gradient_metrics(c * est, c * ex, sto)
    for key in KEYS: assert same(m[key], mc[key]), (key, k, m[key], mc[key])
    # permutations: coordinates are permuted, bit for bit; reordered estimates change the order of the roundings (z is
    # taken against the first estimate, norms on their own non-dyadic scale): S d summed terms, 16 S d eps
    g = torch.Generator().manual_seed(seed)
    q, p = torch.randperm(est.shape[0], generator=g), torch.randperm(est.shape[1], generator=g)
    assert all(same(u, v) for u, v in zip(z[p].tolist(), z_scores(est[:, p], ex[p]).tolist()))
    tol = 16 * est.numel() * torch.finfo(torch.float64).eps
    near = lambda u, v: same(u, v) or abs(u - v) <= tol * max(1., abs(u))
    assert all(near(u, v) for u, v in zip(z[p].tolist(), z_scores(est[q][:, p], ex[p]).tolist()))
    mp = gradient_metrics(est[q][:, p], ex[p], sto)
    for key in KEYS: assert near(m[key], mp[key]), (key, m[key], mp[key])


# ---------------------------------------------------------------------------------------------------------------------------
# 5. the public boundary: wrong shapes and dtypes of data and parameters are a ValueError

DT = [torch.float16, torch.float32, torch.float64, torch.int64, torch.bool, torch.complex64]


@st.composite
def tensors(draw):
    sh = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
    dt, kind = draw(st.sampled_from(DT)), draw(st.sampled_from(['pm1', 'idx', 'rand', 'nan']))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2 ** 31)))
    if dt == torch.bool: return torch.ones(sh, dtype=dt)
    if kind == 'pm1': return (torch.randint(0, 2, sh, generator=g) * 2 - 1).to(dt)
    if kind == 'idx': return torch.randint(0, 3, sh, generator=g).to(dt)
    if kind == 'nan' and dt.is_floating_point: return torch.full(sh, math.nan, dtype=dt)
    return torch.randn(sh, generator=g).to(dt) if dt.is_floating_point or dt.is_complex else torch.randint(-3, 3, sh, generator=g).to(dt)


def good(x, y, loss, n_in, n_out):
    if not (x.dtype == torch.float64 and x.ndim == 2 and x.shape[1] == n_in and x.shape[0] >= 1 and x.isfinite().all()): return False
    if y.ndim == 0 or y.shape[0] != x.shape[0]: return False
    ints = (torch.int8, torch.int16, torch.int32, torch.int64)
    if loss == 'logistic':
        return tuple(y.shape) == (x.shape[0], n_out) and (y.is_floating_point() or y.dtype in ints) and bool(((y == 1) | (y == -1)).all())
    return y.ndim == 1 and y.dtype in ints + (torch.uint8,) and bool(((y >= 0) & (y < n_out)).all())


@fuzz(150)
@given(tensors(), tensors(), st.sampled_from(['logistic', 'cross_entropy']), st.sampled_from(['exact', 'st', 'reinforce', 'mean_field']))
def test_bad_data_is_a_value_error(x, y, loss, est):
    n_in, n_out = 2, (2 if loss == 'cross_entropy' else 1)
    torch.manual_seed(0)
    net = SBNMLP([n_in, 2, n_out], loss=loss)
    ok = good(x, y, loss, n_in, n_out)
    try:
        out = exact_loss(net, x, y) if est == 'exact' else s.estimator(est).surrogate(net, x, y)
    except ValueError as err:
        assert not ok, ('refused good data', est, x, y, err)
        return
    assert ok, ('accepted bad data', est, loss, x.dtype, tuple(x.shape), y.dtype, tuple(y.shape))
    assert torch.isfinite(out).all()


@fuzz(100)
@given(st.integers(0, 1), st.integers(0, 1), st.lists(st.integers(0, 3), max_size=3).map(tuple),
       st.sampled_from([torch.float64, torch.float32]), st.sampled_from(['exact', 'forward', 'st']))
def test_bad_params_are_a_value_error(layer, which, sh, dt, how):
    torch.manual_seed(0)
    net = SBNMLP([2, 3, 1])
    params = [[l.weight.detach().clone(), l.bias.detach().clone()] for l in net.layers]
    good_shape = tuple(params[layer][which].shape)
    params[layer][which] = torch.randn(sh, dtype=dt)
    x, y = torch.randn(4, 2, dtype=torch.float64), torch.ones(4, 1, dtype=torch.float64)
    ok = sh == good_shape and dt == torch.float64
    copies = sh == (1,) + good_shape and dt == torch.float64 and how != 'exact'   # one batched copy: broadcast
    try:
        if how == 'exact': exact_loss(net, x, y, params=params)
        elif how == 'forward': net(x, params=params)
        else: s.estimator('st').surrogate(net, x, y, params=params)
    except ValueError as err:
        assert not ok and 'params' in str(err), err
        return
    assert ok or copies, ('accepted', how, layer, which, sh, dt)
