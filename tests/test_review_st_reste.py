"""A review of the straight-through family, ReSTE, EDE/RBNN and BiPer: straight_through's forward at infinite
pre-activations, SwishSign's and EDE/RBNN's slopes in 16 bits, ReSTE's indicators in float64, NaN states, and the
arguments that ReSTE's schedule and BiPer's quantization error refuse."""
import math
import pytest
import torch
from torch import nn
from sbn_estimators.core import sample_states
from sbn_estimators.estimators import estimator
from sbn_estimators.layers import BinaryActivation
from sbn_estimators.straight_through import sign_pm, straight_through
from sbn_estimators.reste import ReSTE, ReSTEIndicators, ReSTESchedule, estimating_error, gradient_stability, reste_slope, reste_proxy, power_function
from sbn_estimators.ede import EDE, RBNN
from sbn_estimators.biper import quantization_error

INF = math.inf


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def formula(x_hat, a, slope): return x_hat.detach() + (a - a.detach()) * slope.detach()   # the definition, as written

def value_and_grad(f, x_hat, a, slope, g=None):
    "The value of f and the gradient in `a` of <g, f> (g by default a fixed ramp of f's shape and dtype)."
    a = a.detach().clone().requires_grad_()
    y = f(x_hat, a, slope)
    y.backward(torch.linspace(-2, 3, y.numel()).reshape(y.shape).to(y.dtype) if g is None else g)
    return y.detach(), a.grad

def same_bits(u, v): return u.dtype == v.dtype and u.shape == v.shape and torch.equal(u, v) and torch.equal(u.signbit(), v.signbit())


@pytest.mark.parametrize('spec', ['st:deterministic=true', 'clipped_st:deterministic=true', 'reste:o=3,deterministic=true',
                                  'ede:deterministic=true', 'progressive_sign', 'st', 'swish_sign:deterministic=true'])
def test_infinite_preactivations_give_the_state(spec):
    "The forward is the ±1 state at a = ±inf (and at float16's 7e4 = inf), not NaN; the gradient is the slope there."
    est = estimator(spec)
    for dtype in (torch.float32, torch.float16):
        a = torch.tensor([INF, -INF, 7e4, -7e4], dtype=dtype, requires_grad=True)
        x = est(a); x.backward(torch.ones_like(x))
        torch.testing.assert_close(x.detach(), torch.tensor([1., -1., 1., -1.], dtype=dtype), rtol=0, atol=0)
        assert torch.isfinite(a.grad).all()


def test_straight_through_equals_the_formula_bit_for_bit():
    "Finite inputs: value and gradient bit for bit those of x_hat + (a - sg a) sg(slope), also broadcast and promoted; inf: the state."
    gen = torch.Generator().manual_seed(0)
    for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        a = (3 * torch.randn(256, 33, generator=gen)).to(dtype)
        args = (sign_pm(a), a, torch.randn(256, 33, generator=gen).to(dtype), torch.randn(256, 33, generator=gen).to(dtype))
        for u, v in zip(value_and_grad(straight_through, *args), value_and_grad(formula, *args)): assert same_bits(u, v), dtype
    for shapes in (((2, 3, 4), (3, 4), (4,)), ((3, 4), (3, 1), (3, 4)), ((3, 4), (3, 4), ())):
        x_hat, a, slope = (torch.randn(s, generator=gen) for s in shapes)
        for dtypes in ((torch.float32, torch.float64, torch.float32), (torch.float64, torch.float32, torch.float16)):
            args = (sign_pm(x_hat).to(dtypes[0]), a.to(dtypes[1]), slope.to(dtypes[2]))
            for u, v in zip(value_and_grad(straight_through, *args), value_and_grad(formula, *args)): assert same_bits(u, v), (shapes, dtypes)
    a = torch.tensor([INF, -INF, 1.])
    x, g = value_and_grad(straight_through, sign_pm(a), a, torch.tensor([3., 4., 5.]), torch.ones(3))
    assert torch.equal(x, torch.tensor([1., -1., 1.])) and torch.equal(g, torch.tensor([3., 4., 5.]))


def test_straight_through_double_backward_and_vmap():
    "create_graph and torch.func.vmap/grad work as with the formula."
    gen = torch.Generator().manual_seed(0)
    a, s = torch.randn(5, generator=gen, requires_grad=True), torch.rand(5, generator=gen)
    y = straight_through(sign_pm(a.detach()), a, s)
    ga, = torch.autograd.grad((y * a).sum(), a, create_graph=True)
    torch.testing.assert_close(ga, s * a.detach() + y.detach())
    A, S = torch.randn(4, 5, generator=gen), torch.rand(4, 5, generator=gen)
    f = lambda st: torch.func.vmap(torch.func.grad(lambda a, s: (st(sign_pm(a), a, s) * a).sum()))(A, S)
    assert torch.equal(f(straight_through), f(formula))
    x = torch.tensor([INF, 1.]).expand(3, 2)
    assert torch.equal(torch.func.vmap(lambda a: straight_through(sign_pm(a), a, torch.ones_like(a)))(x), torch.ones(3, 2))


def test_straight_through_compiles():
    "torch.compile traces it in one graph, with the eager values and gradients, also at inf."
    torch._dynamo.reset()
    def step(a, s, w):
        return (straight_through(sign_pm(a.detach()), a, s) * w).sum()
    compiled = torch.compile(step, fullgraph=True)
    gen = torch.Generator().manual_seed(1)
    a, s, w = torch.randn(7, 5, generator=gen), torch.rand(7, 5, generator=gen), torch.randn(7, 5, generator=gen)
    a[0, :2] = torch.tensor([INF, -INF])
    out = []
    for f in (compiled, step):
        x = a.clone().requires_grad_(); v = f(x, s, w); v.backward(); out.append((v.detach(), x.grad))
    assert torch.isfinite(out[0][0]) and torch.equal(out[0][0], out[1][0]) and torch.equal(out[0][1], out[1][1])


def test_swish_sign_slope_finite_and_accurate():
    "No NaN at large |beta a| (float16 2e4, float32 1e38, inf); bfloat16 rounded once; float32 as before to rounding."
    sw = estimator('swish_sign')
    far = torch.tensor([2e4, -2e4, INF, -INF])
    for dtype in (torch.float16, torch.bfloat16, torch.float32):
        assert torch.equal(sw.slope(far.to(dtype)), torch.zeros(4, dtype=dtype))
        assert torch.equal(sw.proxy(far.to(dtype)), torch.tensor([1., -1., 1., -1.], dtype=dtype))
    assert torch.equal(sw.slope(torch.tensor([1e38, -1e38])), torch.zeros(2))
    one = torch.tensor([1.])
    assert abs(sw.slope(one.bfloat16()).double().item() / sw.slope(one.double()).item() - 1) < 2 ** -8   # was 17 % off
    z = torch.linspace(-4, 4, 8001)
    s = torch.sigmoid(5 * z)
    old = 2 * 5 * s * (1 - s) * (2 + 5 * z * (1 - 2 * s))                       # the former float32 formula
    true = sw.slope(z.double())
    assert (sw.slope(z) - old).abs().max() < 2e-6 * 5                            # the same to float32 rounding of the peak beta
    assert (sw.slope(z).double() - true).abs().max() < 5e-7 * 5 < (old.double() - true).abs().max()   # and closer to float64


@pytest.mark.parametrize('cls, peak', [(EDE, 1.), (RBNN, math.sqrt(2))])
def test_annealed_slopes_in_16_bits(cls, peak):
    "float16 inside the allowed t: computed in float32 and rounded once (was inf/NaN); a peak beyond float16 refused."
    est = cls()
    a = torch.tensor([0., 1e-5, -3e-5, 1e-4, 0.3, -2.])
    for t in (1e-6, 1e-2, 1e4):
        est.set_t(t)
        for dtype in (torch.float16, torch.bfloat16):
            got = est.slope(a.to(dtype))
            want = est.slope(a.to(dtype).float()).to(dtype)
            assert torch.isfinite(got).all() and torch.equal(got, want), (t, dtype, got, want)
            assert torch.equal(est.proxy(a.to(dtype)), est.proxy(a.to(dtype).float()).to(dtype))
    est.set_t(1e6)
    with pytest.raises(ValueError, match=rf"t=1e\+06 gives {cls.__name__} a peak slope of .* beyond the largest torch.float16 number 65504: use float32, or t <= "):
        est.slope(torch.zeros(3, dtype=torch.float16))
    assert torch.isfinite(est.slope(torch.zeros(3, dtype=torch.bfloat16))).all()
    torch.testing.assert_close(est.slope(torch.zeros(1)), torch.tensor([peak * 1e6]))
    with pytest.raises(ValueError, match='beyond the largest torch.float16'):
        estimator(cls.__name__.lower(), t_min=1e6, t_max=1e6)(torch.zeros(2, dtype=torch.float16, requires_grad=True))


def test_reste_indicators_in_float64():
    "16-bit tensors: the indicators of their values in float64 (the float16 variance of ReSTE-sized gradients was 0)."
    g = torch.randn(1000, generator=torch.Generator().manual_seed(0)) * 1e-4
    for dtype in (torch.float16, torch.bfloat16):
        assert gradient_stability(g.to(dtype)) == gradient_stability(g.to(dtype).double()) > 0
        z = g.to(dtype) * 1e4
        assert estimating_error(z, 3) == estimating_error(z.double(), 3)
    assert gradient_stability(g) == pytest.approx(g.double().abs().var().item(), rel=1e-12)


def test_reste_indicators_one_entry():
    "A call with a 1-entry tensor: gradient_stability NaN, not a ValueError from compute()."
    act = ReSTE(); ind = ReSTEIndicators(act)
    x = torch.tensor(0.3, requires_grad=True)
    act(x).backward()
    r = ind.compute()['ReSTE[0]']
    assert math.isnan(r['gradient_stability']) and r['estimating_error'] == pytest.approx(1 - 0.3 ** (1 / 3))
    ind.remove()
    with pytest.raises(ValueError, match='grad must have at least 2 entries'): gradient_stability(torch.ones(1))   # direct calls still refuse


def test_sign_pm_and_sampled_states_keep_nan():
    "A NaN pre-activation gives a NaN state (det and sample), not a confident -1; ±1 states are unchanged."
    a = torch.tensor([math.nan, .5, -.5, 0., -0., INF, -INF])
    for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        x = sign_pm(a.to(dtype))
        assert x.dtype == dtype and x[0].isnan() and torch.equal(x[1:], torch.tensor([1., -1., 1., 1., 1., -1.], dtype=dtype))
        b = (10 * torch.randn(1000, generator=torch.Generator().manual_seed(0))).to(dtype)
        assert same_bits(sign_pm(b), torch.where(b >= 0, 1., -1.).to(b))
    det = BinaryActivation('st', eval_mode='det').eval()(torch.tensor([math.nan, .5, -.5]))
    assert det[0].isnan() and torch.equal(det[1:], torch.tensor([1., -1.]))
    smp = BinaryActivation('st', eval_mode='sample').eval()(torch.tensor([math.nan, 50., -50.]))
    assert smp[0].isnan() and torch.equal(smp[1:], torch.tensor([1., -1.]))
    assert estimator('st', deterministic=True)(torch.tensor([math.nan]))[0].isnan()
    b = torch.randn(4000, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(3); u = torch.rand(4000)
    torch.manual_seed(3); assert same_bits(sample_states(b), torch.where(u < torch.sigmoid(b), 1., -1.))


@pytest.mark.parametrize('call, msg', [
    (lambda: ReSTESchedule(nn.Sequential(ReSTE()), epochs=10, last_epoch=-1), 'last_epoch must be an integer >= 0, got -1'),
    (lambda: ReSTESchedule(nn.Sequential(ReSTE()), epochs=10, last_epoch=2.5), 'last_epoch must be an integer >= 0, got 2.5'),
    (lambda: ReSTESchedule(nn.Sequential(ReSTE()), epochs=10, o_end=math.nan), 'o_end must be a finite number, got nan'),
    (lambda: ReSTESchedule(nn.Sequential(ReSTE()), epochs=10, o_end=0.5), 'o_end must be >= 1'),
    (lambda: ReSTESchedule(nn.Sequential(ReSTE()), epochs=3).load_state_dict({'epoch': 1, 'epochs': 3, 'o_end': INF}), 'o_end must be a finite number, got inf'),
    (lambda: reste_slope(torch.zeros(2), 3, t=INF), 't must be a finite number, got inf'),
    (lambda: reste_proxy(torch.zeros(2), 3, m=math.nan), 'm must be a finite number, got nan'),
    (lambda: power_function(torch.zeros(2), INF), 'o must be a finite number, got inf'),
    (lambda: ReSTE(o=math.nan), 'o must be a finite number, got nan'),
    (lambda: quantization_error(torch.empty(0)), 'latent must have at least one weight (the mean of none is undefined), got shape (0,)'),
    (lambda: quantization_error(torch.empty(3, 0)), 'got shape (3, 0)'),
])
def test_argument_errors_name_the_argument(call, msg):
    with pytest.raises(ValueError) as e: call()
    assert msg in str(e.value), str(e.value)
