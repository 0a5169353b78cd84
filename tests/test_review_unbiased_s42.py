"""Review of the unbiased estimators' pages (08, 09a, 18a; s42): a state loaded in memory with
`new.load_state_dict(old.state_dict())` is a copy (the two estimators shared Adam's moments and step count, and the
tuned values), every estimator of these pages refuses a state that is not a dict, and the helpers refuse arguments
outside their domain with a ValueError that names them (conditional_noise's v, copula_correlation's p,
neighbour_linearisations' paths) or take an int shape (dirichlet_copula)."""
import copy
import pytest, torch
from sbn_estimators.sbn import SBNMLP, init_sbn_, cos_data
from sbn_estimators.estimators import estimator, draw_estimates
from sbn_estimators.unbiased import copula_correlation, dirichlet_copula
from sbn_estimators.rebar import conditional_noise
from sbn_estimators.rodeo import neighbour_linearisations

torch.set_num_threads(1)
f64 = torch.float64


def fails(f, *parts):
    with pytest.raises(ValueError) as e: f()
    for p in parts: assert p in str(e.value), (p, str(e.value))


def _problem():
    torch.manual_seed(0)
    net = SBNMLP([4, 3, 3, 2], loss='cross_entropy')
    return net, torch.randn(5, 4, dtype=f64), torch.randint(0, 2, (5,))


def _flat(state):
    "Every tensor and number of a (nested) state, in a fixed order, as one float64 vector."
    out = []
    def rec(o):
        if torch.is_tensor(o): out.append(o.detach().double().flatten())
        elif isinstance(o, (int, float)) and not isinstance(o, bool): out.append(torch.tensor([float(o)], dtype=f64))
        elif isinstance(o, dict): [rec(o[k]) for k in sorted(o, key=str)]
        elif isinstance(o, (list, tuple)): [rec(v) for v in o]
    rec(state)
    return torch.cat(out)


def _adam_steps(est):
    return [float(s['step']) for s in est.state_dict()['opt']['state'].values()]


LEARNED = ['rebar', 'relax', 'rodeo:n=2,hidden=4', 'reinforce:baseline=nvil']


# 1. a state loaded in memory is a copy
@pytest.mark.parametrize('spec', LEARNED)
def test_a_state_loaded_in_memory_is_a_copy(spec):
    "After twin.load_state_dict(orig.state_dict()), a step of orig moved twin's Adam state and tuned values (t8b: step 5, 5, 4)."
    net, x, y = _problem()
    orig = estimator(spec)
    for _ in range(3): orig.surrogate(net, x, y).backward()
    twin = estimator(spec); twin.load_state_dict(orig.state_dict())            # in memory, the pattern the pages show
    ref = estimator(spec); ref.load_state_dict(copy.deepcopy(orig.state_dict()))   # as from a checkpoint file
    for e in (orig, twin, ref): torch.manual_seed(5); e.surrogate(net, x, y).backward()   # orig steps first
    assert torch.equal(_flat(twin.state_dict()), _flat(ref.state_dict()))
    assert torch.equal(_flat(orig.state_dict()), _flat(ref.state_dict()))
    assert _adam_steps(orig) == _adam_steps(twin) == _adam_steps(ref) == [4.0] * len(_adam_steps(ref))


@pytest.mark.parametrize('spec', LEARNED)
def test_a_loaded_state_waits_unchanged_for_the_next_call(spec):
    "Loaded and not yet used, the state is the one given at load time: the giver's later steps do not reach it."
    net, x, y = _problem()
    orig = estimator(spec)
    orig.surrogate(net, x, y).backward()
    saved = _flat(orig.state_dict()).clone()
    twin = estimator(spec); twin.load_state_dict(orig.state_dict())
    for _ in range(2): orig.surrogate(net, x, y).backward()
    assert torch.equal(_flat(twin.state_dict()), saved)


def test_a_moving_average_baseline_loads_a_copy():
    "reinforce:baseline=ema loads a copy too (its average is replaced, not updated in place, so sharing it did no harm: the contract)."
    net, x, y = _problem()
    orig = estimator('reinforce:baseline=ema')
    for _ in range(2): orig.surrogate(net, x, y).backward()
    twin = estimator('reinforce:baseline=ema'); twin.load_state_dict(orig.state_dict())
    assert twin.state_dict()['ema'] is not orig.state_dict()['ema']
    assert torch.equal(twin.state_dict()['ema'], orig.state_dict()['ema'])


# 2. a state that is not a dict
ALL = ['reinforce', 'reinforce:baseline=loo', 'reinforce:baseline=ema', 'reinforce:baseline=nvil', 'arm', 'disarm', 'arms',
       'muprop', 'rebar', 'relax', 'rodeo']

@pytest.mark.parametrize('spec', ALL)
@pytest.mark.parametrize('state', [None, [1, 2], 'ab'], ids=['None', 'list', 'str'])
def test_a_state_that_is_not_a_dict_is_refused(spec, state):
    "TypeError (rebar, rodeo, nvil: None; reinforce, disarm: [1, 2]), AttributeError (ema), or silently taken (None, stateless)."
    est = estimator(spec)
    fails(lambda: est.load_state_dict(state), f"{est.spec}: state must be a dict (what state_dict() gives), got {type(state).__name__}")
    assert est.state_dict() == {}


@pytest.mark.parametrize('spec', ['reinforce', 'disarm', 'arms', 'muprop'])
def test_a_stateless_estimator_still_takes_an_empty_state_and_refuses_keys(spec):
    est = estimator(spec)
    est.load_state_dict({})
    fails(lambda: est.load_state_dict({'alphas': torch.zeros(2)}), "learns nothing, but the state holds alphas")


# 3. the helpers' arguments
@pytest.mark.parametrize('noise', ['logistic', 'normal'])
@pytest.mark.parametrize('bad', [1.5, -0.5, 0., 1.])
def test_conditional_noise_refuses_v_outside_the_open_unit_interval(noise, bad):
    "v = 1.5 gave values on the wrong side of a, v = -0.5 NaN (normal), v = 0 infinities; all silently."
    a = torch.tensor([-1., 0.3, 2.], dtype=f64)
    x = torch.tensor([1., -1., 1.], dtype=f64)
    v = torch.tensor([0.5, bad, 0.25], dtype=f64)
    fails(lambda: conditional_noise(a, x, noise, v), f"v must be uniforms in (0, 1), got values {bad:g}")


def test_conditional_noise_takes_v_inside_the_interval():
    a = torch.tensor([-1., 0.3, 2.], dtype=f64)
    x = torch.tensor([1., -1., 1.], dtype=f64)
    for noise in ('logistic', 'normal'):
        z = conditional_noise(a, x, noise, torch.tensor([1e-300, 0.5, 1 - 1e-16], dtype=f64))
        assert torch.isfinite(z).all() and (x * (a - z) > 0).all()


def test_neighbour_linearisations_needs_two_paths():
    "K = 1: 'not enough values to unpack'."
    x = torch.ones(1, 3, 4, dtype=f64)
    fails(lambda: neighbour_linearisations(x, torch.zeros_like(x), torch.zeros(1, 3, dtype=f64)),
          "x needs K >= 2 paths in its first dimension", "got shape (1, 3, 4)")
    assert neighbour_linearisations(x.expand(2, 3, 4), torch.zeros(2, 3, 4, dtype=f64), torch.zeros(2, 3, dtype=f64)).shape == (2, 1, 3, 5, 2)


@pytest.mark.parametrize('n', [2, 3, 5])
def test_dirichlet_copula_takes_an_int_shape(n):
    "n = 2 took an int shape, n >= 3 raised a TypeError."
    torch.manual_seed(0)
    u = dirichlet_copula(n, 5)
    assert u.shape == (n, 5) and ((u >= 0) & (u <= 1)).all()
    torch.manual_seed(0)
    assert torch.equal(u, dirichlet_copula(n, (5,)))


@pytest.mark.parametrize('p, shown', [([1.2, -0.1], '-0.1, 1.2'), ([0.5, float('nan')], 'nan'), ([2.], '2')])
def test_copula_correlation_refuses_p_outside_the_unit_interval(p, shown):
    "p = [1.2, -0.1] gave [0, 0] silently."
    fails(lambda: copula_correlation(torch.tensor(p), 3), f"p must be probabilities in [0, 1], got values {shown}")


def test_copula_correlation_still_takes_the_ends_and_arms_still_runs():
    assert torch.equal(copula_correlation(torch.tensor([0., 1.]), 3), torch.zeros(2))
    X, Y = cos_data()
    net = init_sbn_(SBNMLP([2, 3, 2, 1]), X, seed=1)
    torch.manual_seed(0)
    d = draw_estimates(net, X[::25], Y[::25], estimator('arms:n=3'), 20, chunk=10)
    assert all(torch.isfinite(v).all() for v in d.values())
