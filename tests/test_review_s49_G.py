"""Review s49 (G): EDE and RBNN keep t and k's constants as 0-d tensors filled in place (as ReSTE's o), so a compiled model
does not recompile at every step of their schedule (it did, up to dynamo's recompile limit, after which it silently ran eager);
the eager results are bit-identical to the old Python-float formulas."""
import copy, math, pickle
import pytest, torch, torch.nn as nn
from sbn_estimators import estimator
from sbn_estimators.ede import EDE, RBNN, AnnealedST
from sbn_estimators.layers import BinaryActivation
from sbn_estimators.binary_weights import BinaryWeightLinear
from sbn_estimators.core import noise_dtype
from sbn_estimators.straight_through import sign_pm

torch.set_num_threads(1)

@pytest.mark.parametrize('spec', ['ede:deterministic=True', 'rbnn:deterministic=True'])
def test_compiled_model_keeps_one_graph_over_the_schedule(spec):
    "10 schedule steps, each a training step and a no-grad evaluation: at most 2 graphs, all made in the first step (a new graph per step\n    until dynamo's recompile limit, 8, then eager, before), and the eager results."
    import torch._dynamo as dynamo
    from torch._dynamo.testing import CompileCounterWithBackend
    from torch._dynamo.utils import counters
    dynamo.reset(); counters.clear()
    def make():
        torch.manual_seed(0)
        return nn.Sequential(BinaryWeightLinear(8, 16, binarize=estimator(spec)), BinaryActivation(spec), nn.Linear(16, 2))
    net, twin = make(), make()
    cnt = CompileCounterWithBackend('aot_eager')
    c = torch.compile(net, backend=cnt)
    x = torch.randn(4, 8)
    E = 10
    for ep in range(E):
        for m in (net, twin): m[1].est.on_epoch(m, ep, E)
        net.train(); twin.train()
        c(x).pow(2).sum().backward(); twin(x).pow(2).sum().backward()
        for p, q in zip(net.parameters(), twin.parameters()): assert torch.equal(p.grad, q.grad), ep
        net.zero_grad(); twin.zero_grad()
        net.eval(); twin.eval()
        with torch.no_grad(): assert torch.equal(c(x), twin(x))
        if ep == 0: first = cnt.frame_count
    assert net[1].est.t == twin[1].est.t > 1   # the schedule did move
    assert counters['stats']['unique_graphs'] <= 2 and cnt.frame_count == first, (counters['stats']['unique_graphs'], first, cnt.frame_count)
    dynamo.reset()

# the old forward, with t and k Python floats: the new one must give the same bits
def old_ede(t, k, a):
    w = a.to(noise_dtype(a.dtype)); y = 2 * t * w
    return (k * torch.tanh(t * w)).to(a.dtype), (4 * k * t * (torch.sigmoid(y) * torch.sigmoid(-y))).to(a.dtype)
def old_rbnn(t, k, a):
    w = a.to(noise_dtype(a.dtype))
    c = w.clamp(-math.sqrt(2) / t, math.sqrt(2) / t)
    p = torch.where(w.abs() < math.sqrt(2) / t, k * (math.sqrt(2) * t * c - t * t * c * c.abs() / 2), k * sign_pm(w.detach())).to(a.dtype)
    return p, (k * (math.sqrt(2) * t - t ** 2 * w.abs()).clamp(min=0)).to(a.dtype)

def bits_equal(x, y):
    return x.dtype == y.dtype and torch.equal(x.double().nan_to_num(7., 8., 9.), y.double().nan_to_num(7., 8., 9.)) and torch.equal(x.double().signbit(), y.double().signbit())

@pytest.mark.parametrize('make,old', [(lambda: EDE(t_min=1e-3, t_max=1e3), old_ede), (lambda: RBNN(t_min=1e-4, t_max=1e4), old_rbnn),
                                      (lambda: RBNN(t_floor=1.), old_rbnn)])
@pytest.mark.parametrize('dtype', [torch.float64, torch.float32, torch.float16, torch.bfloat16])
def test_eager_results_bit_identical_to_the_float_formulas(make, old, dtype):
    torch.manual_seed(0)
    a = torch.cat([torch.randn(400, dtype=torch.float64) * 3, torch.tensor([0., 1e-3, -50., float('inf'), float('-inf'), float('nan')], dtype=torch.float64)]).to(dtype)
    est = make()
    for ep in range(13):
        est.on_epoch(nn.Module(), ep, 12)
        assert isinstance(est.t, float) and isinstance(est.k, float)
        try: want = old(est.t, est.k, a)
        except Exception: continue
        peak = est.k * est.t * (1 if isinstance(est, EDE) else math.sqrt(2))
        if peak > torch.finfo(dtype).max:
            with pytest.raises(ValueError, match='peak slope'): est.slope(a)
            continue
        got = est.proxy(a), est.slope(a)
        assert bits_equal(got[0], want[0]) and bits_equal(got[1], want[1]), (ep, dtype)

def test_setting_t_or_k_fills_the_constants_and_the_overflow_check():
    e = EDE(t_min=0.1, t_max=1e5)
    a = torch.linspace(-1, 1, 11)
    e.t, e.k = 2., 0.5   # as a subclass with another k would (page 19's EDEWrongK)
    assert (e.t, e.k) == (2., 0.5) and torch.equal(e.slope(a), old_ede(2., 0.5, a)[1]) and torch.equal(e.proxy(a), old_ede(2., 0.5, a)[0])
    e.set_t(1e5)   # peak k t = 1e5 > float16's 65504
    assert e._overflows == {torch.float16}
    with pytest.raises(ValueError, match=r't=100000 gives EDE a peak slope of 100000, beyond the largest torch.float16'): e.slope(a.half())
    e.set_t(10.); assert e._overflows == frozenset() and e.slope(a.half()).dtype == torch.float16
    with pytest.raises(ValueError, match=r't must be a number in \[1e-06, 1e\+06\], got 0.0'): e.set_t(0.)
    with pytest.raises(ValueError, match=r't must be a number in \[1e-06, 1e\+06\], got 0'): e.t = 0
    with pytest.raises(ValueError, match=r'k must be'): e.k = -1.
    assert (e.t, e.k) == (10., 1.) and torch.equal(e.slope(a), old_ede(10., 1., a)[1])   # a refused value changes nothing

@pytest.mark.parametrize('spec', ['ede:t_min=0.01', 'rbnn:t_floor=1.0'])
def test_copies_pickles_and_reports_floats(spec):
    e = estimator(spec); e.on_epoch(nn.Module(), 7, 10)
    a = torch.linspace(-2, 2, 41)
    for twin in (copy.deepcopy(e), pickle.loads(pickle.dumps(e))):
        assert (twin.t, twin.k) == (e.t, e.k) and torch.equal(twin.slope(a), e.slope(a))
        twin.on_epoch(nn.Module(), 1, 10)   # its own tensors: the original does not move
        assert twin.t != e.t and torch.equal(e.slope(a), copy.deepcopy(e).slope(a))
    assert e.state_dict() == {} and all(type(v) is float for k, v in e.hparams().items() if k.startswith('t'))
    assert estimator(e.spec).hparams() == e.hparams()
    assert f't={e.t!r}, k={e.k!r}' in repr(e)
