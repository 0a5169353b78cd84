"""Review s45 (fixM): checks for plausible bugs a mutation audit found no test catching.

1. The per-layer estimators (arm, disarm, arms, ugc) on a network with NORMAL noise: the score term must use the unit's
   logit phi(a) = log F(a) - log F(-a) of that noise (a mean-gradient z-test against `exact`).
2. RODEO's `stein_weights` must use the network's noise: the discrete Stein identity E_q[A h] = 0, by enumeration.
3. concrete and st_gumbel with noise='normal' draw normal noise: P(x > 0 | a) = Phi(a) (binomial z-test); decoupled_st
   (logistic only) draws +1 with probability sigmoid(a / tau_forward), its own forward law (16_gumbel_family).
4. The trainer's seed drives the noise of the binary units (14_train: each process draws its own noise, seed + 7919·rank).
5. `z_test` is two-sided: a mean biased below its target fails it as one biased above does.

Tolerances come from the sample counts (`z_threshold`, `binomial_z`), all draws from fixed seeds."""
import pytest, torch
from sbn_estimators.core import NOISES, get_noise
from sbn_estimators.sbn import SBNMLP, cos_data, init_sbn_
from sbn_estimators.estimators import estimator, draw_estimates
from sbn_estimators.stats import z_test, z_threshold, binomial_z, max_z, z_scores
import sbn_estimators.exact, sbn_estimators.unbiased, sbn_estimators.control_variates, sbn_estimators.relaxed   # register them
import sbn_estimators.gumbel_family
from sbn_estimators.rodeo import RODEO, stein_operator

torch.set_num_threads(1)
f64 = torch.float64


# 1. per-layer estimators with normal noise: unbiased against the exact gradient
PER_LAYER = ('arm', 'disarm', 'arms', 'ugc')


@pytest.fixture(scope='module')
def normal_net():
    "A small SBN with normal noise, its inputs, targets and exact gradient {group: [d]}."
    X, Y = cos_data()
    xs, ys = X[::10], Y[::10]
    net = init_sbn_(SBNMLP([2, 4, 1], noise='normal'), X, seed=3)
    g = {k: v[0] for k, v in draw_estimates(net, xs, ys, estimator('exact'), 1).items()}
    return net, xs, ys, g


@pytest.mark.parametrize('spec', PER_LAYER)
def test_per_layer_estimators_are_unbiased_with_normal_noise(normal_net, spec):
    "The score term differentiates the normal unit's logit; phi = a (the logistic one) biases every estimator (|z| 31..66)."
    net, xs, ys, g = normal_net
    torch.manual_seed(0)
    d = draw_estimates(net, xs, ys, estimator(spec), 4000, chunk=1000)
    z, t, ok = z_test(d, g, extra_tests=len(PER_LAYER))   # the four estimators checked together
    assert ok, f"{spec} with normal noise: max |z| {z:.1f} >= {t:.2f}"


# 2. RODEO's Stein weights: E_q[A h] = 0 for the network's noise
@pytest.mark.parametrize('noise', ['logistic', 'normal'])
def test_rodeo_stein_weights_satisfy_the_stein_identity(noise):
    """Random-scan Gibbs is reversible for q(x) = prod_i F(x_i a_i), so E_q[(A h)(x)] = 0 for every h, exactly, only when
    the flip weights are w_i = F(-x_i a_i) of q's own noise (logistic weights under normal noise: -0.067)."""
    g = torch.Generator().manual_seed(0)
    D = 3
    states = torch.cartesian_prod(*[torch.tensor([-1., 1.], dtype=f64)] * D)             # all 2^D states [8, D]
    flips = states.unsqueeze(-2) * (1 - 2 * torch.eye(D, dtype=f64))                     # [8, D(i), D]: x flipped at i
    index = lambda x: ((x > 0).long() * 2 ** torch.arange(D - 1, -1, -1)).sum(-1)
    nz = get_noise(noise)
    worst = 0.
    for _ in range(5):   # several pre-activations and functions h
        a = 1.5 * torch.randn(D, generator=g, dtype=f64)
        h_table = torch.randn(len(states), generator=g, dtype=f64)
        h = lambda x: h_table[index(x)]
        prob = nz.cdf(states * a).prod(-1)
        assert abs(prob.sum().item() - 1) < 1e-14
        w = RODEO().stein_weights(states, a.expand_as(states), nz)
        terms = prob * stein_operator(w, h(flips), h(states))
        scale = (prob[:, None] * (h(flips) - h(states)[:, None]).abs()).sum().item()   # the sum's size: rounding is ~1e-16 of it
        worst = max(worst, abs(terms.sum().item()) / scale)
    assert worst < 1e-12, f"E_q[A h] / scale = {worst:.3g} with {noise} noise: the weights are not q's"


# 3. concrete, st_gumbel (normal noise) and decoupled_st draw states with their forward law
POINTS = torch.tensor([-0.9, -0.3, 0., 0.4, 0.8], dtype=f64)
LAWS = {   # spec: P(x = +1 | a)
    'concrete:noise=normal': NOISES['normal'].cdf,
    'st_gumbel:noise=normal': NOISES['normal'].cdf,
    'decoupled_st': torch.sigmoid,   # logistic only; tau_forward = 1
    'decoupled_st:tau_forward=0.5': lambda a: torch.sigmoid(a / 0.5),
}


@pytest.mark.parametrize('spec', list(LAWS))
def test_relaxed_estimators_draw_states_with_their_forward_law(spec):
    "P(x > 0 | a) at five points from 20,000 draws each (concrete's x is continuous: x > 0 iff a > Z); logistic noise under noise='normal': |z| 37."
    torch.manual_seed(0)
    n = 20_000
    x = estimator(spec)(POINTS.expand(n, -1))
    z = binomial_z((x > 0).sum(0), n, LAWS[spec](POINTS))
    t = z_threshold(len(POINTS) * len(LAWS))   # every point of every law in the family
    assert z.abs().max() < t, f"{spec}: max |z| {z.abs().max():.1f} >= {t:.2f} (z {[round(v, 1) for v in z.tolist()]})"


# 4. the trainer's seed drives the noise of the binary units
class _Stop(Exception): pass


@pytest.fixture(scope='module')
def first_noise_state():
    """{seed: the global random state when the first binary unit of a training run draws its noise}: the default
    estimator `st` of the default SBN, spied on; the run stops there (nothing written, out=None)."""
    from sbn_estimators.straight_through import ST
    from sbn_estimators.train import TrainConfig, train
    found, states = {}, {}
    def spy(self, a):
        found['state'] = torch.get_rng_state().clone()
        raise _Stop
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ST, 'forward', spy)
        for seed in (0, 1, 0):
            found.clear()
            with pytest.raises(_Stop): train(TrainConfig(model='sbn_mlp:width=16', estimator='st', epochs=1, eval_samples=1, seed=seed), progress=False)
            states.setdefault(seed, []).append(found['state'])
    return states


def test_the_seed_drives_the_units_noise(first_noise_state):
    "Different seeds draw different noise from the first step on; the same seed the same (a noise seeded by 7919·rank alone: equal)."
    s = first_noise_state
    assert torch.equal(s[0][0], s[0][1]), 'the same seed gave another noise stream'
    assert not torch.equal(s[0][0], s[1][0]), 'seeds 0 and 1 draw the same noise of the binary units'


@pytest.mark.parametrize('seed', [0, 1])
def test_a_single_process_draws_the_noise_of_its_seed(first_noise_state, seed):
    "The documented stream (14_train, distributed data parallel: seed + 7919·rank): rank 0's units draw torch.manual_seed(seed)'s noise."
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        expect = torch.get_rng_state()
    assert torch.equal(first_noise_state[seed][0], expect)


# 5. z_test is two-sided
@pytest.mark.parametrize('bias', [-0.1, 0.1])
def test_z_test_fails_a_bias_of_either_sign(bias):
    "Every coordinate's mean off by `bias`: with S = 10,000 unit-variance estimates each |z| is ~10, far above the threshold."
    S, d = 10_000, 3
    samples = torch.randn(S, d, generator=torch.Generator().manual_seed(0), dtype=f64) + bias
    target = torch.zeros(d, dtype=f64)
    z, t, ok = z_test({'g': samples}, {'g': target})
    assert not ok and z > t, f"bias {bias}: max |z| {z:.2f}, threshold {t:.2f}"
    assert z == pytest.approx(z_scores(samples, target).abs().max().item()) == pytest.approx(max_z(samples, target))
    assert z > 0.5 * abs(bias) * S ** 0.5   # the bias, seen from either side
